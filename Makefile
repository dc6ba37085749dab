# tierflow — two commands matter: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
OUT ?= out

.PHONY: install demo test lint typecheck unit bench bench-gap bench-cltv bench-cltv-cv clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev]'
	@touch $@

install: $(STAMP)

## demo: the main job on the embedded sample
demo: $(STAMP)
	$(BIN)/tierflow bench gap --time-limit 10 --out $(OUT)/demo-gap

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
bench: bench-gap bench-cltv

bench-gap: $(STAMP)
	$(BIN)/python -m benchmarks.run_gap --out $(OUT)/bench-gap

## bench-cltv: CDNOW target check (5 seeds, baselines in the same run) and the
## 1 M-customer / 10 M-row scale run (train, score: time and peak RSS)
bench-cltv: $(STAMP)
	$(BIN)/python -m benchmarks.cltv_bench cdnow --out $(OUT)/bench-cltv
	$(BIN)/python -m benchmarks.cltv_bench scale --out $(OUT)/bench-cltv/scale

## bench-cltv-cv: the time-based CV (training period only) behind the defaults
bench-cltv-cv: $(STAMP)
	$(BIN)/python -m benchmarks.cltv_bench cv

clean:
	rm -rf $(OUT) .pytest_cache .mypy_cache .ruff_cache
