# edge_tracker developer tasks. `make test` is the one command a new user runs on a fresh clone:
# it creates .venv, installs the package with its export, dev, plots and rtx extras at the exact
# versions of requirements/lock.txt, and runs the test suite.
#
# The package keeps its ranges (pyproject.toml) for users; the test environment is locked, so that a
# library release cannot turn CI red behind our back. `make lock` regenerates the lock (uv pip compile,
# universal: Python 3.10+ on every platform); `make test-latest` runs the suite against the newest
# releases those ranges allow, in .venv-latest, to find a new release on purpose.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# torch is pinned for reproducible exports; override for another build, e.g. a CUDA one:
#   make test TORCH=torch==2.13.0+cu128 PIP_EXTRA="--extra-index-url ..."
TORCH ?= torch==2.13.0
comma := ,
PIP_EXTRA ?=
PYTEST_ARGS ?=
TRACKER ?= scs-siam
EXTRAS := export,dev,plots,rtx
LOCK := requirements/lock.txt
PIP := -m pip install --quiet --disable-pip-version-check
# the tool that writes the lock, itself pinned; it lives in its own venv
UV_VERSION ?= 0.13.10
TOOLS := .venv-tools
LATEST := .venv-latest

.PHONY: install test test-latest lock demo eval-deps clean

# -c: the lock constrains whatever is installed (the package's dependencies and extras, pytest, the
# ones torch pulls) to its exact versions, and installs nothing that is not asked for.
$(VENV)/.installed: pyproject.toml Makefile $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(PY) $(PIP) $(PIP_EXTRA) -c $(LOCK) "$(TORCH)"
	$(PY) $(PIP) $(PIP_EXTRA) -c $(LOCK) -e ".[$(EXTRAS)]"
	$(PY) requirements/versions.py --check $(LOCK)
	touch $@

install: $(VENV)/.installed

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

# The suite against the newest releases pyproject.toml's ranges allow, in a fresh venv each time so that
# it sees today's releases. torch stays pinned, as a constraint: an unpinned torch, or --upgrade
# without it, takes a CUDA build of several GB.
test-latest:
	rm -rf $(LATEST)
	$(PYTHON) -m venv $(LATEST)
	echo "$(TORCH)" > $(LATEST)/torch.txt
	$(LATEST)/bin/python $(PIP) $(PIP_EXTRA) "$(TORCH)"
	$(LATEST)/bin/python $(PIP) $(PIP_EXTRA) -c $(LATEST)/torch.txt --upgrade --upgrade-strategy eager -e ".[$(EXTRAS)]"
	$(LATEST)/bin/python requirements/versions.py --diff $(LOCK)
	$(LATEST)/bin/python -m pytest $(PYTEST_ARGS)

# Regenerate requirements/lock.txt from pyproject.toml's ranges and requirements/lock.in (the holds,
# each with its reason). Review the diff, run `make test` on it, commit both.
lock:
	test -x $(TOOLS)/bin/uv || { $(PYTHON) -m venv $(TOOLS) && $(TOOLS)/bin/python $(PIP) "uv==$(UV_VERSION)"; }
	echo "$(TORCH)" > $(TOOLS)/torch.in
	$(TOOLS)/bin/uv pip compile --quiet --universal --python-version 3.10 --no-emit-package torch \
		--extra $(subst $(comma), --extra ,$(EXTRAS)) pyproject.toml requirements/lock.in $(TOOLS)/torch.in \
		--custom-compile-command "make lock" -o $(LOCK)

# Generate a clip and track it with the demo checkpoint on the CPU: out/demo/tracked.mp4 + .jsonl, FPS printed.
demo: install
	$(PY) -m edge_tracker.demo out/demo --tracker $(TRACKER)

# OpenCV's KCF and CSRT (baselines of the model cards) are in the contrib build, which replaces the
# plain one (both install a cv2 package). Run again after anything reinstalls opencv-python-headless.
eval-deps: install
	version=$$($(PY) -c 'import importlib.metadata as m; print(m.version("opencv-python-headless"))' 2>/dev/null); \
	$(PY) -m pip uninstall --quiet -y opencv-python-headless; \
	$(PY) $(PIP) $(PIP_EXTRA) -c $(LOCK) "opencv-contrib-python-headless$${version:+==$$version}"
	$(PY) -c "import cv2; cv2.TrackerKCF_create(); cv2.TrackerCSRT_create(); print('OpenCV', cv2.__version__, 'with KCF and CSRT')"

clean:
	rm -rf $(VENV) $(LATEST) $(TOOLS) build *.egg-info .pytest_cache
