# `make run` and `make test` work on a fresh machine: each creates .venv when needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PROJECT := examples/support-assistant/intently.yaml
DATASETS ?= ../shared/datasets
# `make bench BENCH_ARGS="--backends linear --only snips"` for a quick partial run
BENCH_ARGS ?=

.PHONY: run test bench lint docs clean venv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# One stamp per extra set, rebuilt when pyproject.toml changes. torch is pinned to the local
# CPU wheel and installed first: any other spec would pull gigabytes of CUDA packages.
$(VENV)/.installed-%: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[$*]"
	touch $@

venv: $(VENV)/.installed-dev,neural

run: $(VENV)/.installed-dev,neural
	$(BIN)/intently train --project $(PROJECT)
	$(BIN)/intently predict --project $(PROJECT) "where is my refund?" "I want to cancel my subscription" "what is the meaning of life"

test: $(VENV)/.installed-dev,neural
	$(BIN)/python -m pytest

bench: $(VENV)/.installed-dev,neural,bench
	$(BIN)/python bench/run_all.py --datasets $(DATASETS) --out docs/benchmarks --table docs/BENCHMARKS.md $(BENCH_ARGS)

lint: $(VENV)/.installed-dev,neural
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts
	$(BIN)/lint-imports

# docs/ARCHITECTURE.md's layer table comes from the import-linter contracts in pyproject.toml
docs: $(VENV)/.installed-dev,neural
	$(BIN)/python scripts/architecture.py --write docs/ARCHITECTURE.md

clean:
	rm -rf $(VENV) build *.egg-info
