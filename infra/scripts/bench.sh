#!/usr/bin/env bash
# `make bench`: the benchmarks on throwaway *durable* PostgreSQL and Redis (fsync and synchronous commit
# on, as in production). Installs what is missing, migrates, seeds the demo data, runs each benchmark
# (python -m tests.bench.NAME), stops what it started by pid, and exits non-zero if a benchmark fails.
# Each benchmark prints its figures and rewrites its own section of BENCHMARKS.md.
#   infra/scripts/bench.sh            every benchmark in BENCHES
#   infra/scripts/bench.sh intake     just those named
# Never part of `make test`: timings are reported here, never asserted in the suite.
set -euo pipefail
cd "$(dirname "$0")/../.."
BENCHES=(intake bench_sweep bench_mass_breach bench_webhook bench_oversight bench_returns bench_early_warning faults)
[ $# -gt 0 ] && BENCHES=("$@")

infra/scripts/system-deps.sh wrk
infra/scripts/python-deps.sh requirements-dev.txt

run_dir="$(mktemp -d "${TMPDIR:-/tmp}/candour-bench.XXXXXX")"
cleanup() {
  # gunicorn is started and stopped by the benchmark; this catches one left behind by an interrupt.
  if [ -s "$run_dir/gunicorn.pid" ]; then kill "$(cat "$run_dir/gunicorn.pid")" 2>/dev/null || true; sleep 1; fi
  infra/scripts/services.sh stop "$run_dir" || true
  rm -rf "$run_dir"
}
trap cleanup EXIT INT TERM

infra/scripts/services.sh start "$run_dir" --durable
# shellcheck disable=SC1091
source "$run_dir/env"
export CANDOUR_VAR_DIR="$run_dir/var"
export DJANGO_SETTINGS_MODULE=tests.bench.settings
export PYTHONPATH="$PWD"
.venv/bin/python backend/manage.py migrate --noinput -v 0
.venv/bin/python backend/manage.py demo_seed >/dev/null

status=0
for name in "${BENCHES[@]}"; do
  echo "== bench: $name"
  if [ "$name" = faults ]; then
    # The crash fault tests (a worker killed mid-sweep; gunicorn and database connections killed
    # mid-intake), with many more kills than `make test` runs.
    DJANGO_SETTINGS_MODULE=backend.config.settings.test CANDOUR_FAULT_KILLS=50 \
      .venv/bin/python -m pytest tests/faults/test_sweep_worker_killed.py tests/faults/test_intake_crash.py \
      -q -s --create-db || status=1
  else
    .venv/bin/python -m "tests.bench.$name" || status=1
  fi
done
exit "$status"
