"""The clock sweep at 10,000, 100,000 and 1,000,000 open concerns, 1,000 of them due.

Run by `make bench` (python -m tests.bench.bench_sweep, with DATABASE_URL from infra/scripts/services.sh).
Open concerns are copied in bulk from one concern raised through the real service, so every row is a
valid concern with its three running clocks. Then 1,000 acknowledge clocks are made due and one full
sweep is timed: breaches, escalations and their events, new clocks, alerts and deliveries included.
Goals: the 1,000,000 sweep within 1.5x the 10,000 sweep, and at most 1 ms per escalated concern.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import os
import pstats
import sys
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.config.settings.local")
django.setup()

from celery import current_app  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from backend.concerns import services  # noqa: E402
from backend.concerns.models import Clock, Concern, Event  # noqa: E402
from backend.concerns.services.sweep import SWEEP_BATCH  # noqa: E402
from backend.organisations.demo import demo_seed  # noqa: E402
from backend.organisations.models import Organisation  # noqa: E402
from notifications.models import Delivery  # noqa: E402
from tests.bench.common import machine, max_rss_mib, section_write  # noqa: E402

SIZES = [int(n) for n in os.environ.get("CANDOUR_BENCH_SWEEP_SIZES", "10000,100000,1000000").split(",")]
DUE = 1000
# Every column of the template concern but its key and its (unique) reference, so a new field is copied too.
COPY_COLUMNS = [str(f.column) for f in Concern._meta.concrete_fields if f.name not in ("id", "reference")]


def _reset() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE concerns_clock, concerns_event, concerns_message, concerns_receipt, oversight_alert, "
            "notifications_delivery, concerns_concern RESTART IDENTITY CASCADE"
        )


def _seed(open_concerns: int) -> None:
    """One real concern, then copies of it in batches of 100,000, each with its three clocks."""
    _reset()
    template = services.concern_raise(
        draft=services.ConcernDraft(
            unit=Organisation.objects.get(code="RNX07"),
            raiser_kind="staff",
            identity_mode="anonymous",
            themes=["other"],
            what_happened="Seeded for the sweep benchmark.",
        )
    ).concern
    columns = ", ".join(COPY_COLUMNS)
    with connection.cursor() as cursor:
        done = 1
        while done < open_concerns:
            n = min(100_000, open_concerns - done)
            cursor.execute(
                f"INSERT INTO concerns_concern (reference, {columns}) "
                f"SELECT 'B-' || g, {columns} FROM concerns_concern t, generate_series(%s, %s) g WHERE t.id = %s",
                [done, done + n - 1, template.pk],
            )
            done += n
        cursor.execute(
            "INSERT INTO concerns_clock (concern_id, kind, holder_id, route_level, started_at, due_at, status, "
            "unit, on_breach, pause_reason, late) "
            "SELECT c.id, k.kind, k.holder_id, 0, k.started_at, k.due_at, 'pending', k.unit, k.on_breach, '', false "
            "FROM concerns_concern c CROSS JOIN (SELECT * FROM concerns_clock WHERE concern_id = %s) k "
            "WHERE c.id <> %s",
            [template.pk, template.pk],
        )
        # Statistics first: without them the planner may join a million fresh clocks to the due
        # concerns by re-running the subquery for each (it once took a quarter of an hour).
        cursor.execute("ANALYZE")
        # The 1,000 due: acknowledge clocks spread over the table, not its first rows.
        step = max(1, open_concerns // DUE)
        cursor.execute("SELECT id FROM concerns_concern WHERE id %% %s = 0 ORDER BY id LIMIT %s", [step, DUE])
        due = [row[0] for row in cursor.fetchall()]
        cursor.execute(
            "UPDATE concerns_clock SET due_at = now() - interval '1 minute' "
            "WHERE kind = 'acknowledge' AND concern_id = ANY(%s::bigint[])",
            [due],
        )
        cursor.execute("ANALYZE concerns_clock")
        # Write the seeding's dirty pages out now: otherwise the checkpoint its writes set off runs
        # during the timed sweep, which then pays for the seeding's I/O.
        cursor.execute("CHECKPOINT")


def _broker_warm() -> None:
    """Connect the producer pool before the timed sweep, as it is in a worker that has swept before:
    a process's first publish loads the transport and connects, about half a second."""
    with current_app.producer_or_acquire() as producer:
        producer.connection.ensure_connection()


def _sweep(*, profile: str | None = None) -> tuple[float, int, int]:
    _broker_warm()
    # As a worker process does once started (backend/config/celery.py): what is loaded by now stays.
    gc.freeze()
    profiler = cProfile.Profile() if profile else None
    start = time.perf_counter()
    if profiler:
        profiler.enable()
    result = services.clocks_fire_due(now=timezone.now())
    if profiler:
        profiler.disable()
    seconds = time.perf_counter() - start
    if profiler and profile:
        profiler.dump_stats(profile)
        pstats.Stats(profile).sort_stats("cumulative").print_stats(40)
    return seconds, result.fired, result.escalated


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--sizes",
        type=lambda text: [int(n) for n in text.split(",")],
        default=SIZES,
        help="open concerns to seed, comma-separated (default: %(default)s, or CANDOUR_BENCH_SWEEP_SIZES)",
    )
    parser.add_argument("--no-write", action="store_true", help="print the figures; leave BENCHMARKS.md alone")
    parser.add_argument(
        "--profile", metavar="FILE", help="cProfile the first size's sweep into FILE and print the top of it"
    )
    return parser.parse_args()


def main() -> int:
    args = _arguments()
    sizes: list[int] = args.sizes
    call_command("migrate", verbosity=0)
    demo_seed()
    rows = []
    for index, size in enumerate(sizes):
        t0 = time.perf_counter()
        _seed(size)
        seeded = time.perf_counter() - t0
        seconds, fired, escalated = _sweep(profile=args.profile if index == 0 else None)
        deliveries = Delivery.objects.count()
        rows.append((size, seconds, fired, escalated, deliveries))
        print(
            f"open={size:>9,} seeded in {seeded:6.1f}s  sweep {seconds * 1000:8.1f} ms  fired={fired} "
            f"escalated={escalated}  {seconds * 1000 / max(escalated, 1):.3f} ms/escalation  "
            f"events={Event.objects.count()} deliveries={deliveries} clocks={Clock.objects.count()}",
            flush=True,
        )
        assert Concern.objects.count() == size
    base = rows[0][1]
    top = rows[-1][1]
    ratio = top / base
    per = max(r[1] * 1000 / max(r[3], 1) for r in rows)
    table = "\n".join(
        f"| {size:,} | {fired} | {escalated} | {deliveries:,} | {seconds * 1000:.0f} ms "
        f"| {seconds * 1000 / max(escalated, 1):.3f} ms |"
        for size, seconds, fired, escalated, deliveries in rows
    )
    load = os.getloadavg()[0]
    verdict_ratio = "MET" if ratio <= 1.5 else "NOT MET"
    verdict_per = "MET" if per <= 1.0 else "NOT MET"
    print(
        f"ratio {ratio:.2f}x ({verdict_ratio}); worst {per:.3f} ms per escalation ({verdict_per}); "
        f"max RSS {max_rss_mib():.0f} MiB"
    )
    if args.no_write:
        return 0
    section_write(
        "Clock sweep",
        f"""{machine()}. One full sweep (`clocks_fire_due`) with 1,000 acknowledge clocks due among N open concerns,
each with three running clocks; everything a breach does is included (clock fired, breach and escalation events,
the receiving body's three clocks, alerts, outbox deliveries written in each batch's transaction and their
sends published to Redis after each commit), in batches of {SWEEP_BATCH}. Before the timed sweep the seeding is
checkpointed, the broker connection is open and the objects loaded so far are frozen out of the garbage
collector's walks, as in a worker that has swept before (backend/config/celery.py). Load average at the end
{load:.1f} on {os.cpu_count()} CPUs (other work on the machine inflates every figure).

| open concerns | fired | escalated | outbox rows after | sweep | per escalation |
|---|---|---|---|---|---|
{table}

- {sizes[-1]:,} vs {sizes[0]:,}: {ratio:.2f}x (goal at most 1.5x): **{verdict_ratio}**
- worst per escalated concern: {per:.3f} ms (goal at most 1 ms): **{verdict_per}**
- peak memory (max RSS) of the benchmark process, sweep included: {max_rss_mib():.0f} MiB
""",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
