#!/usr/bin/env bash
# `make drill-db`: PostgreSQL switchover, failover and point-in-time recovery, proven on this machine with
# Candour raising throughout (tests/drill/pg_failover.py says what it does and checks). Installs PgBouncer
# from the distribution if missing (`make test` never needs it), builds everything in a throwaway folder,
# stops what it started by pid, prints the figures and writes the "Database failover and recovery"
# section of BENCHMARKS.md. Exits non-zero if a check failed. Never part of `make test`.
#   infra/scripts/pg-drill.sh [--archive-timeout SECONDS] [--no-write]
set -euo pipefail
cd "$(dirname "$0")/../.."
infra/scripts/system-deps.sh pgbouncer
infra/scripts/python-deps.sh requirements-dev.txt

run_dir="$(mktemp -d "${TMPDIR:-/tmp}/candour-drill.XXXXXX")"
cleanup() {
  # The drill stops its servers itself; this catches any left behind by an interrupt, by pid file.
  for pidfile in "$run_dir"/nodes/*/postmaster.pid "$run_dir"/pgbouncer/pgbouncer.pid; do
    [ -f "$pidfile" ] && kill -9 "$(head -n 1 "$pidfile")" 2>/dev/null || true
  done
  rm -rf "$run_dir"
}
trap cleanup EXIT INT TERM
PYTHONPATH="$PWD" .venv/bin/python -m tests.drill.pg_failover --dir "$run_dir" "$@"
