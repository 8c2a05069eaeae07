#!/usr/bin/env bash
# `make test`: install what is missing, start throwaway PostgreSQL and Redis, run every check and
# the whole suite on them, then the API tests again on the embedded default `make run` uses (SQLite
# and Celery's filesystem broker), stop what was started, and exit non-zero on any failure.
# Arguments go to the PostgreSQL run, and the SQLite pass is left out.
set -euo pipefail
cd "$(dirname "$0")/../.."
infra/scripts/system-deps.sh
infra/scripts/python-deps.sh requirements-dev.txt
infra/scripts/policy-deps.sh
infra/scripts/frontend-deps.sh

run_dir="$(mktemp -d "${TMPDIR:-/tmp}/candour-test.XXXXXX")"
# The suite's result is the script's result: cleaning up must never turn a pass into a failure.
cleanup() { infra/scripts/services.sh stop "$run_dir" || true; rm -rf "$run_dir" 2>/dev/null || true; }
trap cleanup EXIT INT TERM

echo "== ruff"; .venv/bin/ruff check .
echo "== ruff format"; .venv/bin/ruff format --check .
echo "== mypy"; .venv/bin/mypy
echo "== import contracts"; .venv/bin/lint-imports

infra/scripts/services.sh start "$run_dir"
# shellcheck disable=SC1091
source "$run_dir/env"
export CANDOUR_VAR_DIR="$run_dir/var"
status=0
echo "== pytest (PostgreSQL, Redis)"
.venv/bin/python -m pytest "$@" || status=$?
if [ $# -eq 0 ]; then
  # With no DATABASE_URL or CELERY_BROKER_URL the settings fall back to the embedded default (the
  # test database is then SQLite in memory). A test that needs PostgreSQL must skip there, saying why
  # (tests/api/test_database_unavailable.py, which cuts the connection to the database server).
  # The API, the one write module's statements and the organisations import: what a newcomer meets
  # on `make run` that differs by engine.
  echo "== pytest tests/api and the write path (SQLite, filesystem broker)"
  env -u DATABASE_URL -u CELERY_BROKER_URL CANDOUR_VAR_DIR="$run_dir/var-sqlite" \
    .venv/bin/python -m pytest tests/api tests/integration/test_unit_of_work.py \
    tests/integration/test_import_organisations.py || status=$?
fi
exit "$status"
