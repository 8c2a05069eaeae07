#!/usr/bin/env bash
# Create .venv and install the hash-pinned packages. Usage: python-deps.sh requirements-dev.txt
set -euo pipefail
cd "$(dirname "$0")/../.."
export UV_PYTHON_DOWNLOADS=never
req="${1:-requirements.txt}"
PY="${CANDOUR_PYTHON:-python3}"
if ! command -v uv >/dev/null 2>&1 && ! "$PY" -m uv --version >/dev/null 2>&1; then
  echo "Installing uv"
  "$PY" -m pip install --quiet --disable-pip-version-check uv
fi
UV="uv"; command -v uv >/dev/null 2>&1 || UV="$PY -m uv"
[ -x .venv/bin/python ] || $UV venv --quiet --python "$PY" .venv
# Re-sync only when the lock file changed since the last sync. The dev set is a superset of the
# runtime set: a venv once synced for the tests stays a dev venv (`make run` must not strip pytest
# from under a developer's test run), re-synced from the dev lock when that changes.
if [ "$req" = requirements.txt ] && [ -e .venv/.was-dev ]; then
  req=requirements-dev.txt
fi
stamp=".venv/.synced-$(basename "$req")"
if [ ! -f "$stamp" ] || [ "$req" -nt "$stamp" ]; then
  $UV pip sync --quiet --python .venv/bin/python --require-hashes "$req"
  rm -f .venv/.synced-*
  touch "$stamp"
  if [ "$req" = requirements-dev.txt ]; then touch .venv/.was-dev; fi
fi
