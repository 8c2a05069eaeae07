#!/usr/bin/env bash
# Create .venv-policy/ with the hash-pinned policy scanner (checkov), apart from the project's .venv:
# its pins cannot be resolved together with Candour's (infra/policy/requirements-policy.in says why).
set -euo pipefail
cd "$(dirname "$0")/../.."
export UV_PYTHON_DOWNLOADS=never
req=infra/policy/requirements-policy.txt
PY="${CANDOUR_PYTHON:-python3}"
if ! command -v uv >/dev/null 2>&1 && ! "$PY" -m uv --version >/dev/null 2>&1; then
  "$PY" -m pip install --quiet --disable-pip-version-check uv
fi
UV="uv"; command -v uv >/dev/null 2>&1 || UV="$PY -m uv"
[ -x .venv-policy/bin/python ] || $UV venv --quiet --python "$PY" .venv-policy
stamp=.venv-policy/.synced
if [ ! -f "$stamp" ] || [ "$req" -nt "$stamp" ]; then
  $UV pip sync --quiet --python .venv-policy/bin/python --require-hashes "$req"
  touch "$stamp"
fi
