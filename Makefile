.PHONY: run test setup lint migrations bench drill drill-db
SHELL := /bin/bash
PY := .venv/bin/python
MANAGE := $(PY) backend/manage.py

## make run: set up (once) and start web + worker + beat on the embedded default (SQLite, filesystem broker)
run: setup
	@$(MANAGE) migrate --noinput -v 0
	@$(MANAGE) demo_seed
	@$(MANAGE) demo_history
	@$(MANAGE) demo_learning
	@echo "Open http://127.0.0.1:$${PORT:-8000}/"
	@$(PY) infra/scripts/run.py

setup:
	@infra/scripts/python-deps.sh requirements.txt
	@infra/scripts/frontend-deps.sh

## make test: the whole suite on throwaway PostgreSQL and Redis, plus ruff, mypy and import contracts
test:
	@infra/scripts/test.sh

## make bench: the benchmarks on throwaway durable PostgreSQL and Redis; figures printed and written to BENCHMARKS.md
bench:
	@infra/scripts/bench.sh

## make drill: two web nodes, three workers, two beats and PgBouncer under steady load while nodes are SIGKILLed;
## checks nothing was lost or doubled; figures printed and written to BENCHMARKS.md (not part of make test)
drill:
	@infra/scripts/drill.sh

## make drill-db: PostgreSQL switchover, failover and point-in-time recovery with Candour raising throughout;
## figures printed and written to BENCHMARKS.md (README: Failover and point-in-time recovery). Not in make test.
drill-db:
	@infra/scripts/pg-drill.sh

lint:
	@.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy && .venv/bin/lint-imports

## make migrations: after changing a model
migrations:
	@$(MANAGE) makemigrations
