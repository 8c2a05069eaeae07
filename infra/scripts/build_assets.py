"""Copy the NHS.UK design system from frontend/node_modules into frontend/static/vendor.

Its stylesheet points at /assets/... and at web fonts on an outside host. Candour rewrites the first
to where it serves them and drops the second: an anonymous raiser's browser must not contact a third
party, and the fonts fall back to Arial.
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "frontend" / "node_modules" / "nhsuk-frontend" / "dist" / "nhsuk"
TARGET = ROOT / "frontend" / "static" / "vendor" / "nhsuk"
AXE = ROOT / "frontend" / "node_modules" / "axe-core" / "axe.min.js"


def main() -> int:
    if not SOURCE.exists():
        print(f"missing {SOURCE}: run npm ci in frontend/", file=sys.stderr)
        return 1
    if TARGET.exists():
        shutil.rmtree(TARGET)
    TARGET.mkdir(parents=True)
    css = (SOURCE / "nhsuk-frontend.min.css").read_text()
    css = re.sub(r"@font-face\{[^}]*https?://[^}]*\}", "", css)
    css = css.replace("url(/assets/", "url(/static/vendor/nhsuk/assets/")
    (TARGET / "nhsuk-frontend.min.css").write_text(css)
    shutil.copy(SOURCE / "nhsuk-frontend.min.js", TARGET / "nhsuk-frontend.min.js")
    shutil.copytree(SOURCE / "assets", TARGET / "assets")
    if AXE.exists():
        shutil.copy(AXE, TARGET.parent / "axe.min.js")
    print(f"assets copied to {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
