# tierflow — two commands matter: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
OUT ?= out
## Bytecode is written as modules are first imported, as Python does by
## default, even where the environment says not to (PYTHONDONTWRITEBYTECODE=1,
## as on the CI machine: there every process compiled what it imported again,
## 1.7 s of CPU to import a server against 1.1 s from the cache, and each
## pytest-xdist worker rewrote every test module's asserts, 15 s against 6 s).
## So pip need not compile the whole of every package up front (54 s -> 31 s
## to install both locks; the modules a run imports are compiled on first use).
export PYTHONDONTWRITEBYTECODE :=
PIP := $(BIN)/python -m pip install -q --no-compile --disable-pip-version-check
## The exact versions `make` installs (pyproject.toml holds the ranges):
## requirements.lock for running tierflow, requirements-dev.lock for tests,
## benchmarks and every extra (cbc, dask, postgres, dev). `make lock` remakes both.
LOCK := requirements.lock
DEV_LOCK := requirements-dev.lock
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: demo-gap demo-allocate install demo test test-slow fuzz lint typecheck unit bench bench-gap clean demo-network bench-network bench-allocation bench-online bench-cltv bench-cltv-quick bench-cltv-cv lock

## the runtime set from the lock, then tierflow itself without resolving again
$(STAMP): pyproject.toml $(LOCK)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) -r $(LOCK)
	$(PIP) --no-deps -e .
	@touch $@

## + tests, linters, benchmarks and every optional extra
$(DEV_STAMP): $(STAMP) $(DEV_LOCK)
	$(PIP) -r $(DEV_LOCK)
	@touch $@

install: $(DEV_STAMP)

## lock: re-resolve both lock files from pyproject.toml's ranges for every
## platform (uv); existing pins are kept unless LOCK_FLAGS=--upgrade
LOCK_FLAGS ?=
UV_COMPILE = $(BIN)/uv pip compile pyproject.toml --universal --python-version 3.11 \
  --custom-compile-command "make lock" $(LOCK_FLAGS)
lock: $(DEV_STAMP)
	$(UV_COMPILE) --all-extras -o $(DEV_LOCK)
	$(UV_COMPILE) -c $(DEV_LOCK) -o $(LOCK)

## demo: the main job on the embedded sample — one whole simulated day
demo: $(STAMP)
	$(BIN)/tierflow simulate --out $(OUT)/simulate

## demo-gap: the solvers side by side on the public GAP set
demo-gap: $(DEV_STAMP)
	$(BIN)/tierflow bench gap --time-limit 10 --out $(OUT)/demo-gap

## demo-allocate: the demo day's orders allocated in 15-minute CP-SAT batches
## (the orders generated first when missing: it read a file only demo-network wrote)
DEMO_NET := $(OUT)/demo-network
demo-allocate: $(STAMP) $(DEMO_NET)/orders.csv
	$(BIN)/tierflow allocate --orders $(DEMO_NET)/orders.csv --engine cpsat \
	  --time-limit 2 --out $(OUT)/demo-allocate

## demo-network: the sample network, generated orders and the capacity map
demo-network: $(STAMP) $(DEMO_NET)/orders.csv
	$(BIN)/tierflow network validate
	$(BIN)/tierflow generate orders --orders 56000 --days 14 --seed 1 --out $(DEMO_NET)/history.csv
	$(BIN)/tierflow capacity forecast --orders $(DEMO_NET)/history.csv --state $(DEMO_NET)/state.db
	$(BIN)/tierflow capacity show --state $(DEMO_NET)/state.db --png $(DEMO_NET)/capacity.png

# the demo day's orders (a spike at noon), for demo-network and demo-allocate
$(DEMO_NET)/orders.csv: $(STAMP)
	$(BIN)/tierflow generate orders --orders 20000 --days 1 --seed 2 --start 2026-01-19 --spike 12:00,3 --out $@

## test: ruff, mypy and the whole pytest suite (with a short fuzz pass). Once
## the set-up and ruff are done, mypy runs beside pytest at a low priority: it
## takes the CPU time pytest's workers leave idle (over a quarter: servers
## starting, waits) instead of adding its own (45 s without a cache, as in
## CI) before them. Their output interleaves; either failing fails the whole.
test: $(DEV_STAMP) postgres $(if $(filter 0,$(BROWSER_TESTS)),,browser)
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory -j2 typecheck unit TYPECHECK_NICE="nice -n 15"

## fuzz: the long fuzz run, thousands of corrupted inputs per reader and CLI
## command; prints the counts of docs/fuzzing.md (FUZZ_EXAMPLES=N to resize);
## then schemathesis on every HTTP operation of a server on the sample
## network, every check on, SERVICE_FUZZ_EXAMPLES per operation and mode
FUZZ_OUT := $(OUT)/fuzz
SERVICE_FUZZ_EXAMPLES ?= 1000
fuzz: $(DEV_STAMP)
	rm -rf $(FUZZ_OUT)
	HYPOTHESIS_PROFILE=fuzz FUZZ_REPORT=$(FUZZ_OUT) $(BIN)/pytest -q -n auto -p no:cacheprovider tests/fuzz
	$(BIN)/python -m tests.fuzz.report $(FUZZ_OUT)
	$(BIN)/python -m tierflow.benchmarks.service_fuzz --examples $(SERVICE_FUZZ_EXAMPLES) \
	  --out $(FUZZ_OUT)/service.json

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

TYPECHECK_NICE ?=
typecheck: $(DEV_STAMP)
	$(TYPECHECK_NICE) $(BIN)/mypy

## pytest-xdist runs one worker per core: one BLAS / OpenMP thread each
## (numpy's OpenBLAS and scikit-learn's OpenMP start one per core in every
## worker and its subprocesses, which then fight over the cores)
TEST_ENV = TIERFLOW_CHROMIUM=$(CHROMIUM) OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1

## pytest-xdist workers for `make unit`: one more than the cores. A quarter
## of a worker's time is waiting (servers starting, a stopped database's
## timeouts, browser pages, subprocesses); with one worker a core that time
## was idle. On 2 cores: 3,235 tests in 493 s against 570 s with 2 workers
## (2026-12-05); the timing tests keep their margins there.
PYTEST_WORKERS ?= $(shell echo $$(( $$(nproc 2>/dev/null || echo 1) + 1 )))

## --dist worksteal: xdist's default (load) hands each worker its share of the
## tests up front and then one at a time; the suite's long tests (whole runs
## of allocate, simulate and cltv in tests/cli, 10-100 s each under load) are
## uneven, and a worker left with a queue of them finished alone while the
## others idled. worksteal lets an idle worker take half of a busy one's queue.
PYTEST_DIST ?= worksteal

## unit: every test but the long ones (`@pytest.mark.slow`: `make test-slow`);
## the log ends with the 30 slowest, to keep the suite's time in view
unit: $(DEV_STAMP) postgres $(if $(filter 0,$(BROWSER_TESTS)),,browser)
	$(TEST_ENV) $(BIN)/pytest -q -n $(PYTEST_WORKERS) --dist $(PYTEST_DIST) --durations=30 \
	  -m "not slow$(if $(filter 0,$(BROWSER_TESTS)), and not browser)"

## test-slow: the long tests, opt-in (stress at full size, wheels, timing runs)
test-slow: $(DEV_STAMP) postgres
	$(TEST_ENV) $(BIN)/pytest -q -n auto -m slow

## bench: opt-in long benchmarks (protocol and targets: docs/benchmarks.md)
bench: bench-gap bench-network bench-allocation bench-online bench-cltv bench-service bench-fleet

GAP_GEN := $(OUT)/gap-generated
GAP_TYPES := D,5,100 D,10,100 D,10,200 D,20,100 D,20,200 E,5,100 E,10,200 E,20,200

bench-gap: $(DEV_STAMP)
	$(BIN)/tierflow bench gap --engines cpsat,highs,cbc,greedy,lp --time-limit 10 \
	  --repeat 3 --out $(OUT)/bench-gap/public
	@mkdir -p $(GAP_GEN)
	@for spec in $(GAP_TYPES); do \
	  IFS=, read -r t m n <<< "$$spec"; \
	  name=$$(echo $$t | tr DE de)$$(printf %02d $$m)$$n-s1; \
	  $(BIN)/tierflow generate gap --type $$t --agents $$m --jobs $$n --seed 1 \
	    --out $(GAP_GEN)/$$name.txt; \
	done
	$(BIN)/tierflow bench gap $(GAP_GEN)/*.txt --engines cpsat,cpsat-plain,highs,greedy \
	  --time-limit 10 --out $(OUT)/bench-gap/generated
	$(BIN)/python -m tierflow.benchmarks.greedy_speed --repeat 5 --out $(OUT)/bench-gap/greedy

bench-network: $(DEV_STAMP)
	$(BIN)/python -m tierflow.benchmarks.network_bench --out $(OUT)/bench-network

bench-online: $(DEV_STAMP)
	$(BIN)/tierflow bench online --requests 1000 --processes 8 --out $(OUT)/bench-online

## bench-cltv: the rolling-origin protocol (CDNOW's standard split and rolling
## origins, the sample network's purchase history at two seeds; 5 seeds per
## split, the worst counts, every baseline raw and calibrated in the same run;
## writes $(OUT)/bench-cltv/protocol.md), the Spearman and level studies of
## docs/cltv.md, and the 1 M-customer scale run (train, score: time, peak RSS)
bench-cltv: $(DEV_STAMP)
	$(BIN)/python -m tierflow.benchmarks.cltv_bench protocol --out $(OUT)/bench-cltv
	$(BIN)/python -m tierflow.benchmarks.cltv_bench spearman \
	  $(OUT)/bench-cltv/cdnow-standard/predictions.csv --out $(OUT)/bench-cltv/spearman.txt
	$(BIN)/python -m tierflow.benchmarks.cltv_bench level --out $(OUT)/bench-cltv/level.txt
	$(BIN)/python -m tierflow.benchmarks.cltv_bench scale --out $(OUT)/bench-cltv/scale

## bench-cltv-quick: the protocol with one seed per split (while iterating)
bench-cltv-quick: $(DEV_STAMP)
	$(BIN)/python -m tierflow.benchmarks.cltv_bench protocol --seeds 0 \
	  --out $(OUT)/bench-cltv-quick

## bench-cltv-cv: the time-based CV (training period only) behind the defaults
bench-cltv-cv: $(DEV_STAMP)
	$(BIN)/python -m tierflow.benchmarks.cltv_bench cv

clean:
	rm -rf $(OUT) .pytest_cache .mypy_cache .ruff_cache

## bench-allocation: 10 generated days (each with its 14-day history) at loose
## and tight capacity, the forecast-error sweep, and the 100k-order day.
bench-allocation: $(DEV_STAMP)
	$(BIN)/tierflow bench allocation --days 10 --orders 3000 --seed 1 \
	  --engines cpsat --time-limit 2 --hindsight-time-limit 60 \
	  --forecast history --forecast perfect --forecast-sweep 0.5,0.7,1,1.4,2 \
	  --out $(OUT)/bench-allocation/days
	$(BIN)/python -m tierflow.benchmarks.allocation_scale --orders 100000 --repeat 3 \
	  --out $(OUT)/bench-allocation/scale

## postgres: Debian's PostgreSQL server programs for the store tests (the
## suite starts a private server of its own on a Unix socket and stops it).
## Installed when missing, as root; otherwise a message. The tests never skip
## silently: a developer without PostgreSQL may set TIERFLOW_TEST_POSTGRES=0.
.PHONY: postgres
postgres:
	@if [ "$$TIERFLOW_TEST_POSTGRES" = 0 ] || [ -n "$$TIERFLOW_PG_BIN" ] \
	  || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing Debian's postgresql for the store tests (apt-get)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null \
	    || { echo "error: apt-get install postgresql failed"; exit 1; }; \
	else \
	  echo "error: the store tests need PostgreSQL's server programs (initdb, pg_ctl): run"; \
	  echo "  sudo apt-get install -y postgresql"; \
	  echo "or set TIERFLOW_PG_BIN=/path/to/postgresql/bin,"; \
	  echo "or skip them with: TIERFLOW_TEST_POSTGRES=0 make test"; exit 1; \
	fi

## browser: Debian's chromium-headless-shell for the browser tests (Playwright
## drives it with executable_path; `playwright install` cannot download here):
## the same Blink as `chromium` at less than half its CPU time. Installed when
## missing, as root; not root, Debian's full chromium where only it is there;
## otherwise a message. `make test BROWSER_TESTS=0` skips them.
HEADLESS_SHELL := /usr/bin/chromium-headless-shell
CHROMIUM ?= $(shell if [ ! -x $(HEADLESS_SHELL) ] && [ "$$(id -u)" != 0 ] \
  && [ -x /usr/bin/chromium ]; then echo /usr/bin/chromium; else echo $(HEADLESS_SHELL); fi)
BROWSER_TESTS ?= 1
.PHONY: browser bench-service screenshots
browser:
	@if [ -x "$(CHROMIUM)" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing Debian's chromium-headless-shell for the browser tests (apt-get)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium-headless-shell >/dev/null \
	    || { echo "error: apt-get install chromium-headless-shell failed"; exit 1; }; \
	else \
	  echo "error: the browser tests need Chromium at $(CHROMIUM): run"; \
	  echo "  sudo apt-get install -y chromium-headless-shell"; \
	  echo "or set CHROMIUM=/path/to/chromium, e.g. /usr/bin/chromium,"; \
	  echo "or skip them with: make test BROWSER_TESTS=0"; exit 1; \
	fi

## bench-service: load (50 clients x 60 s on loopback), no-oversell and auth
## checks, fuzz pass; writes $(OUT)/bench-service/{results.json,summary.md};
## then the cost of one access-log line ($(OUT)/bench-service/access-log)
bench-service: $(DEV_STAMP)
	$(BIN)/python -m tierflow.benchmarks.service_bench --clients 50 --duration 60 \
	  --baseline 15 --fuzz-examples 200 --out $(OUT)/bench-service
	$(BIN)/python -m tierflow.benchmarks.access_log_bench --out $(OUT)/bench-service/access-log

## bench-fleet: one client's options latency against the in-process call,
## checkout throughput against /healthz, 1 -> 2 workers, SQLite and PostgreSQL
## side by side, two replicas on one PostgreSQL under contention (the server
## pinned to CPU 0, the load generator to CPU 1); writes
## $(OUT)/bench-fleet/{results.json,summary.md}
.PHONY: bench-fleet
bench-fleet: $(DEV_STAMP) postgres
	$(BIN)/python -m tierflow.benchmarks.fleet_bench --out $(OUT)/bench-fleet

## docs-screenshot: docs/docs-offline.png, /docs in Chromium with every request
## off loopback refused (fails if the page asks for one)
.PHONY: docs-screenshot
docs-screenshot: $(DEV_STAMP) browser
	TIERFLOW_CHROMIUM=$(CHROMIUM) $(BIN)/python -m tierflow.benchmarks.docs_screenshot \
	  --out docs/docs-offline.png --work $(OUT)/screenshots

## screenshots: the checkout page, /ops and the simulation report at 1280 and
## 390 px wide, into docs/screenshots/ (sample network, Chromium); the report
## is a simulated day with its CLTV backtest, made once in $(SHOTS_SIM)
## (delete it to make it again)
SHOTS_SIM := $(OUT)/screenshots/simulate
$(SHOTS_SIM)/report.html: | $(STAMP)
	rm -rf $(SHOTS_SIM)
	$(BIN)/tierflow simulate --cltv-backtest --out $(SHOTS_SIM)
screenshots: $(DEV_STAMP) browser $(SHOTS_SIM)/report.html
	TIERFLOW_CHROMIUM=$(CHROMIUM) $(BIN)/python -m tierflow.benchmarks.service_screenshots \
	  --out docs/screenshots --work $(OUT)/screenshots --report $(SHOTS_SIM)/report.html
