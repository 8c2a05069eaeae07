#!/usr/bin/env bash
# `make test`: install what is missing, start throwaway PostgreSQL and Redis, run every check and
# the whole suite on them, stop what was started, and exit non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
infra/scripts/system-deps.sh
infra/scripts/python-deps.sh requirements-dev.txt
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
echo "== pytest"
.venv/bin/python -m pytest "$@"
