# trtvit-dense: the two commands of the README are `make demo` and `make test`.
# Both set up .venv first (idempotent; the mmcv wheel is built once and cached).
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: setup demo test test-fast clean

setup:
	PYTHON=$(PYTHON) VENV=$(VENV) bash tools/setup_env.sh

demo: setup
	$(PY) tools/demo.py

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: setup
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) work_dirs .pytest_cache
