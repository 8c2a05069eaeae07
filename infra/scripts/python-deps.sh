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
# runtime set, so a venv synced for the tests also serves `make run`.
stamp=".venv/.synced-$(basename "$req")"
dev_stamp=".venv/.synced-requirements-dev.txt"
if [ "$req" = requirements.txt ] && [ -f "$dev_stamp" ] && [ "$dev_stamp" -nt requirements-dev.txt ] \
   && [ "$dev_stamp" -nt requirements.txt ]; then
  exit 0
fi
if [ ! -f "$stamp" ] || [ "$req" -nt "$stamp" ]; then
  $UV pip sync --quiet --python .venv/bin/python --require-hashes "$req"
  rm -f .venv/.synced-*
  touch "$stamp"
fi
