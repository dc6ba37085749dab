# tierflow — two commands matter: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
OUT ?= out

.PHONY: install demo test lint typecheck unit bench bench-gap clean demo-network bench-network

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev]'
	@touch $@

install: $(STAMP)

## demo: the main job on the embedded sample
demo: $(STAMP)
	$(BIN)/tierflow bench gap --time-limit 10 --out $(OUT)/demo-gap
	@$(MAKE) --no-print-directory demo-network

## demo-network: the sample network, generated orders and the capacity map
DEMO_NET := $(OUT)/demo-network
demo-network: $(STAMP)
	$(BIN)/tierflow network validate
	$(BIN)/tierflow generate orders --orders 56000 --days 14 --seed 1 --out $(DEMO_NET)/history.csv
	$(BIN)/tierflow generate orders --orders 20000 --days 1 --seed 2 --start 2026-01-19 --spike 12:00,3 --out $(DEMO_NET)/orders.csv
	$(BIN)/tierflow capacity forecast --orders $(DEMO_NET)/history.csv --state $(DEMO_NET)/state.db
	$(BIN)/tierflow capacity show --state $(DEMO_NET)/state.db --png $(DEMO_NET)/capacity.png

## test: ruff, mypy and the whole pytest suite
test: lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -q

## bench: opt-in long benchmarks (GAP public set + generated type C/D/E)
bench: bench-gap bench-network

bench-gap: $(STAMP)
	$(BIN)/python -m benchmarks.run_gap --out $(OUT)/bench-gap

bench-network: $(STAMP)
	$(BIN)/python -m benchmarks.network_bench --out $(OUT)/bench-network

clean:
	rm -rf $(OUT) .pytest_cache .mypy_cache .ruff_cache
