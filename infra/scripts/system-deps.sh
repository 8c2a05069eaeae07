#!/usr/bin/env bash
# Install the system packages the tests need (PostgreSQL, Redis, Chromium, PDF rendering and reading,
# gettext for translation catalogues)
# when they are missing.
# Extra arguments name more packages whose command has the same name (the benchmarks add wrk, `make drill-db`
# adds pgbouncer).
set -euo pipefail
need=()
for extra in "$@"; do command -v "$extra" >/dev/null 2>&1 || need+=("$extra"); done
[ -x /usr/lib/postgresql/15/bin/initdb ] || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# Reports as PDF: WeasyPrint's libraries and a font; the tests read the PDFs with pdftotext and pdfinfo.
command -v pdftotext >/dev/null 2>&1 || need+=(poppler-utils)
# Translation catalogues: makemessages runs xgettext and msguniq (tests/integration/test_translations.py).
command -v xgettext >/dev/null 2>&1 || need+=(gettext)
for lib in libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core; do
  dpkg -s "$lib" >/dev/null 2>&1 || need+=("$lib")
done
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] && ! command -v sudo >/dev/null 2>&1; then
  echo "Candour needs: ${need[*]}. Install them with your package manager (apt-get install ${need[*]}) and run again." >&2
  exit 1
fi
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
echo "Installing system packages: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
if ! { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; }; then
  echo "Could not install ${need[*]} with apt-get. Install them by hand and run again." >&2
  exit 1
fi
