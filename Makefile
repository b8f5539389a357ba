# trtvit-dense: the two commands of the README are `make demo` and `make test`.
# Both set up .venv first (idempotent; the mmcv wheel is built once and cached).
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=
# pytest-xdist workers: the suite is mostly single-threaded Python (imports, configs,
# export, evaluation), so one worker per core of the 2-core CI machine; each worker's
# torch and the tools it starts get one thread (tests/conftest.py). --dist loadfile: a
# test file runs whole in one worker (its module fixtures are built once);
# --no-loadscope-reorder: files are handed out in conftest's order (long ones first),
# not by their number of tests. TEST_WORKERS=0: one process.
TEST_WORKERS ?= 2
XDIST := -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

.PHONY: setup demo test test-fast clean

setup:
	PYTHON=$(PYTHON) VENV=$(VENV) bash tools/setup_env.sh

demo: setup
	$(PY) tools/demo.py

test: setup
	$(PY) -m pytest $(XDIST) --durations=25 $(PYTEST_ARGS)

test-fast: setup
	$(PY) -m pytest $(XDIST) -m "not slow" --durations=25 $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) work_dirs .pytest_cache
