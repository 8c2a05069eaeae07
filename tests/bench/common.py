"""Shared by the benchmarks: peak memory, timing, a database of their own and the BENCHMARKS.md section writer."""

from __future__ import annotations

import platform
import re
import resource
import statistics
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

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


def section_write(title: str, body: str, *, path: Path = BENCHMARKS) -> None:
    """Replace (or add) the section '## {title}' in BENCHMARKS.md (or ``path``), keeping the others."""
    text = path.read_text() if path.exists() else HEADER
    block = f"## {title}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.DOTALL | re.MULTILINE)
    text = pattern.sub(lambda _: block + "\n", text) if pattern.search(text) else text.rstrip() + "\n\n" + block
    path.write_text(text.rstrip() + "\n")


def timed(fn: Callable[[], Any], runs: int, warm: int = 3) -> tuple[float, float, float]:
    """Median, 95th percentile and fastest of ``runs`` calls after ``warm`` unmeasured ones, in milliseconds."""
    for _ in range(warm):
        fn()
    samples = []
    for _ in range(runs):
        began = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - began) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.95))], samples[0]


def _admin(url: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/postgres"))


def bench_database(url: str, suffix: str, *, fresh: bool = True) -> str:
    """The URL of a database of the benchmark's own beside the one ``url`` names (its name plus
    ``suffix``), created afresh unless ``fresh`` is False (then it must exist)."""
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/") + suffix
    if fresh:
        with psycopg.connect(_admin(url), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(parts._replace(path=f"/{name}"))


def drop_database(url: str) -> None:
    import psycopg

    with psycopg.connect(_admin(url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{urlsplit(url).path.lstrip("/")}"')
