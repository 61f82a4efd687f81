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
TRACKER ?= scs-siam

.PHONY: install test demo eval-deps clean

$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check $(PIP_EXTRA) "$(TORCH)"
	$(PY) -m pip install --quiet --disable-pip-version-check $(PIP_EXTRA) -e ".[export,dev]"
	touch $@

install: $(VENV)/.installed

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

# Generate a clip and track it with the demo checkpoint on the CPU: out/demo/tracked.mp4 + .jsonl, FPS printed.
demo: install
	$(PY) -m edge_tracker.demo out/demo --tracker $(TRACKER)

# OpenCV's KCF and CSRT (baselines of the model cards) are in the contrib build, which replaces the
# plain one (both install a cv2 package). Run again after anything reinstalls opencv-python-headless.
eval-deps: install
	version=$$($(PY) -c 'import importlib.metadata as m; print(m.version("opencv-python-headless"))' 2>/dev/null); \
	$(PY) -m pip uninstall --quiet -y opencv-python-headless; \
	$(PY) -m pip install --quiet --disable-pip-version-check $(PIP_EXTRA) "opencv-contrib-python-headless$${version:+==$$version}"
	$(PY) -c "import cv2; cv2.TrackerKCF_create(); cv2.TrackerCSRT_create(); print('OpenCV', cv2.__version__, 'with KCF and CSRT')"

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
