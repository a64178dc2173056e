# The two commands of the README: `make demo` and `make test`. Everything else is a step.
SHELL := /bin/bash
PYTHON ?= python3
UV := $(PYTHON) -m uv
VENV := .venv
BIN := $(VENV)/bin
DEBIAN_TEST_PACKAGES :=

.PHONY: demo test env lint typecheck layers unit bench clean

$(BIN)/tidings: pyproject.toml uv.lock
	@$(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	$(UV) sync --frozen --quiet
	@touch $@

env: $(BIN)/tidings

demo: env
	$(BIN)/tidings demo

lint: env
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: env
	$(BIN)/mypy

layers: env
	$(BIN)/lint-imports

test: env lint typecheck layers
	$(BIN)/pytest -q

bench: env
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .hypothesis
