# edge_tracker developer tasks. `make test` is the one command a new user runs on a fresh clone:
# it creates .venv, installs the package with its export and dev extras, and runs the test suite.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# torch is pinned for reproducible exports; override for another build, e.g. a CUDA one:
#   make test TORCH=torch==2.13.0+cu128 PIP_EXTRA="--extra-index-url ..."
TORCH ?= torch==2.13.0
PIP_EXTRA ?=
PYTEST_ARGS ?=

.PHONY: install test clean

$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check $(PIP_EXTRA) "$(TORCH)"
	$(PY) -m pip install --quiet --disable-pip-version-check $(PIP_EXTRA) -e ".[export,dev]"
	touch $@

install: $(VENV)/.installed

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
