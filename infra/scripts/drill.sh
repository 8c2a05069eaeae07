#!/usr/bin/env bash
# `make drill`: the multi-node drill (tests/drill/run.py) on throwaway *durable* PostgreSQL and Redis.
# Installs what is missing (PgBouncer too, for the drill only), migrates, seeds the demo data, runs
# python -m tests.drill.run (which starts and kills the nodes itself), stops what it started by pid,
# and exits non-zero if anything was lost or doubled. Figures printed and written to BENCHMARKS.md.
#   CANDOUR_DRILL_SECONDS=60 infra/scripts/drill.sh     a short run (see tests/drill/run.py for the rest)
# Never part of `make test`.
set -euo pipefail
cd "$(dirname "$0")/../.."

infra/scripts/system-deps.sh pgbouncer
infra/scripts/python-deps.sh requirements-dev.txt

run_dir="$(mktemp -d "${TMPDIR:-/tmp}/candour-drill.XXXXXX")"
cleanup() {
  infra/scripts/services.sh stop "$run_dir" || true
  [ -n "${CANDOUR_DRILL_KEEP:-}" ] || rm -rf "$run_dir"
}
trap cleanup EXIT INT TERM

infra/scripts/services.sh start "$run_dir" --durable
# shellcheck disable=SC1091
source "$run_dir/env"
export CANDOUR_VAR_DIR="$run_dir/var"
export DJANGO_SETTINGS_MODULE=tests.drill.settings
export PYTHONPATH="$PWD"
.venv/bin/python backend/manage.py migrate --noinput -v 0
.venv/bin/python backend/manage.py demo_seed >/dev/null
.venv/bin/python -m tests.drill.run
