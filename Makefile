# The two commands a newcomer needs: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup demo test test-fast lint bench

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

setup: $(BIN)/.installed

## The case study: a slow API, its bottlenecks found and fixed one by one (a few minutes).
demo: setup
	$(BIN)/loadlens demo

## Lint, type-check and run every test (real servers on 127.0.0.1).
test: lint
	$(BIN)/pytest

## While developing: the tests not marked slow (about a minute); CI runs them all.
test-fast: setup
	$(BIN)/pytest -m 'not slow'

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

## Benchmarks print figures; they install nginx and wrk themselves (Debian, root).
bench: setup
	$(BIN)/python benchmarks/efficiency.py
	$(BIN)/python benchmarks/concurrency.py
	$(BIN)/python benchmarks/accuracy.py
	$(BIN)/python benchmarks/startup.py
