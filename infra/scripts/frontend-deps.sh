#!/usr/bin/env bash
# Install the locked front-end packages and copy the design system into static files.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ ! -d frontend/node_modules ] || [ frontend/package-lock.json -nt frontend/node_modules/.package-lock.json ]; then
  (cd frontend && npm ci --no-audit --no-fund --loglevel=error)
fi
.venv/bin/python infra/scripts/build_assets.py
