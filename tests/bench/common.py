"""Shared by the benchmarks: peak memory and the BENCHMARKS.md section writer."""

from __future__ import annotations

import platform
import re
import resource
import subprocess
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ROOT / "BENCHMARKS.md"
HEADER = (
    "# Benchmarks\n\nFigures from `make bench` (tests/bench/), on a machine like CI's: 2 cores, 24 GiB. Each "
    "section is rewritten by its benchmark; compare ratios within one run, not across machines.\n"
)


def max_rss_mib(*, children: bool = False) -> float:
    """Peak resident memory of this process (or of its finished children), in MiB."""
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    return resource.getrusage(who).ru_maxrss / 1024


def machine() -> str:
    pg = subprocess.run(["psql", "--version"], capture_output=True, text=True).stdout.strip()
    return f"{platform.python_implementation()} {platform.python_version()}, {pg}, {datetime.now(UTC):%Y-%m-%d}"


def section_write(title: str, body: str) -> None:
    """Replace (or add) the section '## {title}' in BENCHMARKS.md, keeping the others."""
    text = BENCHMARKS.read_text() if BENCHMARKS.exists() else HEADER
    block = f"## {title}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.DOTALL | re.MULTILINE)
    text = pattern.sub(lambda _: block + "\n", text) if pattern.search(text) else text.rstrip() + "\n\n" + block
    BENCHMARKS.write_text(text.rstrip() + "\n")
