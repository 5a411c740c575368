# customer-ml: `make run` builds everything on the embedded DuckDB; `make test` installs and tests.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv

export CUSTOMER_ML_HOME ?= $(CURDIR)/.customer_ml
export DAGSTER_HOME ?= $(CUSTOMER_ML_HOME)/dagster_home
export DO_NOT_TRACK := true
export MLFLOW_DISABLE_TELEMETRY := true
export DBT_SEND_ANONYMOUS_USAGE_STATS := False
export TQDM_DISABLE := 1
export PYTHONWARNINGS := ignore::DeprecationWarning

.PHONY: install run dev test bench lock clean serve bench-serve eval app notebook lint format stack stack-stop stack-test

install: $(VENV)/.installed

# Reinstalls only when the lock or the project metadata changed. Bytecode is compiled at install time: with
# PYTHONDONTWRITEBYTECODE set every process recompiles each import (the scoring service was ready in 11 s, not 5).
$(VENV)/.installed: requirements/lock.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	test -x $(UV) || $(VENV)/bin/pip install --quiet "$$(grep -E '^uv==' requirements/lock.txt)"
	$(UV) pip install --quiet --compile-bytecode -p $(PY) -r requirements/lock.txt
	$(UV) pip install --quiet -p $(PY) --no-deps -e .
	cd warehouse && ../$(VENV)/bin/dbt parse --quiet --profiles-dir . >/dev/null
	touch $@

run: install
	@mkdir -p "$(DAGSTER_HOME)"
	$(PY) -m customer_assets.cli run

dev: install
	@mkdir -p "$(DAGSTER_HOME)"
	$(VENV)/bin/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

# PYTHONWARNINGS is emptied for the tests: pytest then shows deprecations, filtered by pyproject's list only.
# --durations prints the 30 slowest steps, so a slower suite shows where it went. TEST_WORKERS pytest-xdist
# workers share the test files (a file's tests stay on one worker, each worker has its own PostgreSQL database:
# conftest.py); TEST_WORKERS=0 runs them in one process. (Not `--dist loadgroup`: with pytest 9.2, xdist 3.8's
# groups are silently ignored.)
TEST_WORKERS ?= 2
test: install
	PYTHONWARNINGS= $(PY) -m pytest -q -p no:cacheprovider --durations=30 -n $(TEST_WORKERS) --dist loadfile \
		customer_assets_tests

# Scale benchmarks (each prints its figures; about an hour in all at the default 1,000,000 rows).
# `make bench BENCH=foundation` runs one; `BENCH_ROWS=100000` shrinks the ML ones. `postgres` times `make run`
# on PostgreSQL beside DuckDB at 3,000 customers (`benchmarks/bench_postgres.py --customers 3000 100000` for more).
BENCH ?= foundation partitions churn segmentation recommend text value service postgres app pipeline
BENCH_ROWS ?= 1000000
# `pipeline` is the whole `make run` graph per step (time, peak memory) at PIPELINE_CUSTOMERS synthetic customers.
PIPELINE_CUSTOMERS ?= 100000
bench: install
	@set -e; for name in $(BENCH); do \
	  echo "== benchmarks/bench_$$name.py"; \
	  if [ $$name = foundation ] || [ $$name = service ] || [ $$name = partitions ] || [ $$name = postgres ]; then $(PY) benchmarks/bench_$$name.py; \
	  elif [ $$name = pipeline ]; then $(PY) benchmarks/bench_pipeline.py --customers $(PIPELINE_CUSTOMERS); \
	  else $(PY) benchmarks/bench_$$name.py --rows $(BENCH_ROWS); fi; \
	done

# Every library on every real data set in ../shared/data (or CUSTOMER_ML_SHARED_DATA), each beside its plain
# baseline: one table printed and written to $(CUSTOMER_ML_HOME)/eval/eval.json. `make test` runs a reduced one.
eval: install
	$(PY) -m customer_assets.evaluation

# Live scoring on 127.0.0.1:3001 over this home's online snapshot and MLflow champions (`make run` first).
serve: install
	$(VENV)/bin/bentoml serve bentos.service:CustomerML --host 127.0.0.1 --port 3001

# The business app on http://127.0.0.1:8501 over this home's online snapshot and MLflow (read-only; `make run` first).
app: install
	$(PY) -m streamlit run customer_assets/app/main.py --server.address 127.0.0.1 --server.port 8501 \
	  --server.headless true --browser.gatherUsageStats false

# notebooks/walkthrough.ipynb executed in place with its outputs saved (nbclient, this venv's kernel; about 8 min on
# the full data in ../shared/data or CUSTOMER_ML_SHARED_DATA). NOTEBOOK_ARGS=--reduced runs it on subsampled data.
notebook: install
	$(PY) -m customer_assets.notebook $(NOTEBOOK_ARGS)

# Latency and throughput of the live service beside a trivial BentoML service (builds its own home).
bench-serve: install
	$(PY) benchmarks/bench_service.py

# Re-resolve the pinned versions after changing dependencies in pyproject.toml.
lock:
	$(UV) pip compile pyproject.toml --extra dev -p 3.11 -o requirements/lock.txt

clean:
	rm -rf $(CUSTOMER_ML_HOME) warehouse/target warehouse/logs

# Static checks (CI runs them before the tests): ruff lint and format check and mypy on the package and the
# service (settings in pyproject.toml), then the secrets scan: detect-secrets over every tracked or addable file
# against the audited .secrets.baseline (`$(PY) deploy/check_secrets.py --update` after reviewing a false positive).
# `make format` rewrites the files ruff would change.
LINTED := customer_assets bentos
lint: install
	$(VENV)/bin/ruff check $(LINTED)
	$(VENV)/bin/ruff format --check $(LINTED)
	$(VENV)/bin/mypy $(LINTED)
	$(PY) deploy/check_secrets.py

format: install
	$(VENV)/bin/ruff check --fix $(LINTED)
	$(VENV)/bin/ruff format $(LINTED)

# The docker-compose topology natively on 127.0.0.1 (deploy/stack.py): PostgreSQL databases, Dagster code server,
# webserver and daemon, MLflow server, scoring service (a built bento), app, Prometheus and a PostgreSQL probe, over
# a temporary home (CUSTOMER_ML_STACK_HOME, default /tmp/customer-ml-stack). stack-stop stops exactly the recorded
# processes. stack-test runs its own stack on free ports (root: its data home is a tmpfs): runs on PostgreSQL, a
# schedule tick, the service under load, four alerts firing (three clearing), five faults (docs/deploying.md, ~12 min).
stack: install
	$(PY) deploy/stack.py start

stack-stop:
	$(PY) deploy/stack.py stop

stack-test: install
	$(PY) deploy/stack.py test
