"""A mass breach: the sweep has not run for a day, and 100,000 clocks fall due at once.

Run by `make bench` (python -m tests.bench.bench_mass_breach). Seeds N open concerns as the sweep
benchmark does (tests/bench/bench_sweep.py: copies of one concern raised through the real service,
each with its three running clocks), makes the acknowledge clock of every one of DUE of them due a
day ago, then starts SWEEPERS processes side by side, each running ``clocks_fire_due`` once, as
workers on the clocks queue would when beat sends the sweep again and again. They share the work
through SKIP LOCKED. Timed from the first sweeper's start to the last one's end; each sweeper's peak
memory is compared with a sweeper's over 1,000 due.
Goals: every due clock fired and escalated exactly once, in 60 s or less on this machine's cores;
a sweeper's peak memory over 100,000 due no higher (within 10%) than over 1,000.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.config.settings.local")
django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from backend.concerns import services  # noqa: E402
from backend.concerns.models import Clock, Event  # noqa: E402
from backend.organisations.demo import demo_seed  # noqa: E402
from notifications.models import Delivery  # noqa: E402
from tests.bench.bench_sweep import _broker_warm, _seed  # noqa: E402
from tests.bench.common import machine, max_rss_mib, section_write  # noqa: E402

OPEN = int(os.environ.get("CANDOUR_BENCH_BREACH_OPEN", "100000"))
DUE = int(os.environ.get("CANDOUR_BENCH_BREACH_DUE", "100000"))
SWEEPERS = int(os.environ.get("CANDOUR_BENCH_BREACH_SWEEPERS", "3"))


def _all_due(due: int) -> None:
    """``due`` acknowledge clocks due a day ago (the sweep's day-long outage), spread over the table."""
    with connection.cursor() as cursor:
        cursor.execute("UPDATE concerns_clock SET due_at = due_at + interval '10 years' WHERE kind = 'acknowledge'")
        cursor.execute(
            "UPDATE concerns_clock SET due_at = now() - interval '1 day' WHERE id IN ("
            "SELECT id FROM concerns_clock WHERE kind = 'acknowledge' ORDER BY random() LIMIT %s)",
            [due],
        )
        cursor.execute("ANALYZE concerns_clock")
        cursor.execute("CHECKPOINT")


def _sweeper() -> int:
    """One worker's sweep: prints its start, end and peak memory as one JSON line."""
    _broker_warm()
    start = time.time()
    result = services.clocks_fire_due(now=timezone.now())
    end = time.time()
    print(
        json.dumps(
            {"start": start, "end": end, "fired": result.fired, "escalated": result.escalated, "rss": max_rss_mib()}
        ),
        flush=True,
    )
    return 0


def _sweep_side_by_side(sweepers: int) -> dict[str, float]:
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.bench.bench_mass_breach", "--sweeper"], stdout=subprocess.PIPE, text=True
        )
        for _ in range(sweepers)
    ]
    reports = []
    for proc in procs:
        out, _ = proc.communicate(timeout=1800)
        assert proc.returncode == 0, f"a sweeper failed ({proc.returncode})"
        reports.append(json.loads(out.strip().splitlines()[-1]))
    return {
        "seconds": max(r["end"] for r in reports) - min(r["start"] for r in reports),
        "fired": sum(r["fired"] for r in reports),
        "escalated": sum(r["escalated"] for r in reports),
        "rss": max(r["rss"] for r in reports),
        "shares": sorted(r["fired"] for r in reports),  # type: ignore[dict-item]
    }


def _run(open_concerns: int, due: int, sweepers: int) -> dict[str, float]:
    t0 = time.perf_counter()
    _seed(open_concerns)
    _all_due(due)
    seeded = time.perf_counter() - t0
    figures = _sweep_side_by_side(sweepers)
    assert Clock.objects.filter(kind="acknowledge", status="fired").count() == due, "every due clock fired once"
    escalations = Event.objects.filter(kind="escalate")
    once = escalations.count() == escalations.values("concern_id").order_by().distinct().count()
    assert once, "a concern escalated twice"
    figures["escalation_events"] = escalations.count()
    figures["deliveries"] = Delivery.objects.count()
    print(
        f"due={due:>7,} open={open_concerns:,} seeded in {seeded:.1f}s; {sweepers} sweepers: "
        f"{figures['seconds']:.1f}s, fired={figures['fired']:.0f} escalated={figures['escalated']:.0f} "
        f"events={figures['escalation_events']:.0f} shares={figures['shares']} "
        f"peak RSS per sweeper {figures['rss']:.0f} MiB",
        flush=True,
    )
    return figures


def _row(due: int, f: dict[str, float]) -> str:
    return (
        f"| {due:,} | {SWEEPERS} | {f['seconds']:.1f} s | {f['fired']:.0f} | {f['escalated']:.0f} | {f['shares']} "
        f"| {f['deliveries']:,.0f} | {f['rss']:.0f} MiB |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sweeper", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--no-write", action="store_true", help="print the figures; leave BENCHMARKS.md alone")
    args = parser.parse_args()
    if args.sweeper:
        return _sweeper()
    call_command("migrate", verbosity=0)
    demo_seed()
    small = _run(OPEN, 1000, SWEEPERS)
    mass = _run(OPEN, DUE, SWEEPERS)
    in_time = mass["seconds"] <= 60
    memory = mass["rss"] <= small["rss"] * 1.1
    verdict_time = "MET" if in_time else "NOT MET"
    verdict_memory = "MET" if memory else "NOT MET"
    print(f"{DUE:,} due in {mass['seconds']:.1f}s ({verdict_time}); memory {mass['rss']:.0f} vs {small['rss']:.0f} MiB")
    if args.no_write:
        return 0
    section_write(
        "Mass breach",
        f"""{machine()}. The sweep has not run for a day: {DUE:,} acknowledge clocks among {OPEN:,} open
concerns fall due at once (seeded as in "Clock sweep"). {SWEEPERS} sweeper processes side by side each
run `clocks_fire_due` once, sharing the due clocks through SKIP LOCKED, as workers on the clocks queue
do; every breach does everything it does in production (events, escalation, the receiving body's
clocks, alerts, outbox rows and their sends published to Redis). Timed from the first sweeper's start
to the last one's end. Load average at the end {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs.

| due | sweepers | wall time | fired | escalated | per sweeper (fired) | outbox rows | peak RSS per sweeper |
|---|---|---|---|---|---|---|---|
{_row(1000, small)}
{_row(DUE, mass)}

- all {DUE:,} escalated in {mass["seconds"]:.1f} s (goal 60 s or less): **{verdict_time}**
- peak memory per sweeper {mass["rss"]:.0f} MiB against {small["rss"]:.0f} MiB for 1,000 due
  (goal no higher, within 10%): **{verdict_memory}**
- every due clock fired once and no concern escalated twice (checked)
""",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
