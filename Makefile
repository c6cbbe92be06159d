# Haina — everyday commands. `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Test files run on this many processes (pytest-xdist, a file per process at a time).
TEST_WORKERS ?= 2

.PHONY: install demo serve test test-fast lint format typecheck services bench bench-quick clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/haina demo

serve: install
	$(BIN)/haina serve

services:
	bash scripts/ensure-services.sh

lint: install
	$(BIN)/ruff check haina tests bench
	$(BIN)/ruff format --check haina tests bench

format: install
	$(BIN)/ruff format haina tests bench
	$(BIN)/ruff check --fix haina tests bench

typecheck: install
	$(BIN)/mypy haina

test: install services lint typecheck
	$(BIN)/pytest -p no:randomly -n $(TEST_WORKERS) --dist loadfile

test-fast: install
	$(BIN)/pytest -x -q -m "not browser and not celery and not slow"

bench: install services
	@$(BIN)/python -c 'import splink, recordlinkage' 2>/dev/null || $(BIN)/python -m pip install --quiet -e '.[test,dev,bench]'
	@set -e; for script in bench/*.py; do echo "== $$script"; $(BIN)/python $$script $(BENCH_ARGS); done

bench-quick:
	$(MAKE) bench BENCH_ARGS=--quick

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
