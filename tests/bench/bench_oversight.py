"""Benchmark: the governors' dashboard and the public figures at 1,000,000 concerns over 500 organisations.

Goal: 10 ms or less for one organisation, 20 ms or less across all of them (selector time).

    bash infra/scripts/services.sh start /tmp/bench --durable
    source /tmp/bench/env
    .venv/bin/python -m tests.bench.bench_oversight [--runs 200] [--with-concerns] [--keep]

It makes its own database beside DATABASE_URL's (``<name>_bench_oversight``, dropped at the end unless
--keep), migrates it, and seeds 500 provider trusts (each with a trust board; 20 integrated care
boards; one regulator) and the folded figures of 1,000,000 concerns straight into the pre-aggregated
tables: 500 organisations x 8 quarters of public figures, and 2,000 dashboard tallies. Then it times
the selectors (median and 95th percentile of --runs runs, after warming up), the same reads through
the API views in-process, what figures_record adds to one intake, and how fast the rollup folds.
With --with-concerns it also inserts 1,000,000 concern rows (one INSERT ... SELECT, about half a
minute) and times the plain GROUP BY a live read would need, for comparison.

Prints the results, writes the "## Oversight figures" section of BENCHMARKS.md (other sections are
kept), and reports the peak RSS of this process. Not collected by pytest (no test_ prefix).
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from tests.bench.common import BENCHMARKS, bench_database, drop_database, section_write, timed

SECTION = "Oversight figures"

PROVIDERS = 500
ICBS = 20
QUARTERS = [date(2024, 4, 1), date(2024, 7, 1), date(2024, 10, 1), date(2025, 1, 1)]
QUARTERS += [date(2025, 4, 1), date(2025, 7, 1), date(2025, 10, 1), date(2026, 1, 1)]
CONCERNS = 1_000_000
SUFFIX = "_bench_oversight"
THEMES = "'patient_safety','worker_safety','bullying','behaviour','other'"
STATES = "'received','acknowledged','under_review','feedback_given','closed','closed','closed'"


def _seed_organisations() -> dict[str, Any]:
    from backend.organisations.models import Organisation, OrganisationKind

    def make(code: str, name: str, kind: str, **extra: Any) -> Organisation:
        return Organisation(
            code=code, name=name, kind=kind, path=Organisation.path_for(parent_path=None, code=code), **extra
        )

    regulator = make("BRG", "Bench Regulator", OrganisationKind.REGULATOR)
    regulator.save()
    icbs = [make(f"BQ{i:02d}", f"Bench ICB {i:02d}", OrganisationKind.ICB, escalates_to=regulator) for i in range(ICBS)]
    Organisation.objects.bulk_create(icbs)
    boards = [
        make(f"BB{i:03d}", f"Bench Trust Board {i:03d}", OrganisationKind.TRUST_BOARD, escalates_to=icbs[i % ICBS])
        for i in range(PROVIDERS)
    ]
    Organisation.objects.bulk_create(boards)
    providers = [
        make(
            f"BP{i:03d}",
            f"Bench Hospitals NHS Trust {i:03d}",
            OrganisationKind.PROVIDER,
            escalates_to=boards[i],
            commissioned_by=icbs[i % ICBS],
        )
        for i in range(PROVIDERS)
    ]
    Organisation.objects.bulk_create(providers)
    for board, provider in zip(boards, providers, strict=True):
        board.governs = provider
    Organisation.objects.bulk_update(boards, ["governs"])
    return {"regulator": regulator, "icbs": icbs, "boards": boards, "providers": providers}


def _seed_users(world: dict[str, Any]) -> dict[str, Any]:
    from django.contrib.auth import get_user_model

    from backend.organisations.models import Membership, Role

    users = get_user_model().objects
    governor = users.create_user(username="bench-governor")
    Membership.objects.create(user=governor, organisation=world["boards"][0], role=Role.GOVERNOR)
    commissioner = users.create_user(username="bench-commissioner")
    Membership.objects.create(user=commissioner, organisation=world["icbs"][0], role=Role.COMMISSIONER)
    # Every organisation: a national overseer holding the commissioner role at every ICB.
    national = users.create_user(username="bench-national")
    Membership.objects.bulk_create(
        [Membership(user=national, organisation=icb, role=Role.COMMISSIONER) for icb in world["icbs"]]
    )
    return {"governor": governor, "commissioner": commissioner, "national": national}


def _histogram(rng: random.Random, n: int) -> list[int]:
    from backend.oversight.figures import ACK_DAYS_TOP

    counts = [0] * (ACK_DAYS_TOP + 1)
    for _ in range(n):
        counts[min(ACK_DAYS_TOP, int(rng.expovariate(1 / 3)))] += 1
    return counts


def _seed_figures(world: dict[str, Any], rng: random.Random) -> int:
    """The folded figures of CONCERNS concerns: PROVIDERS x QUARTERS rows whose received sum to it."""
    from backend.oversight.figures import histogram_median
    from backend.oversight.models import FiguresRollup, OrganisationQuarterFigures, OversightTally

    per_row = CONCERNS // (PROVIDERS * len(QUARTERS))
    rows = []
    for i, provider in enumerate(world["providers"]):
        for quarter in QUARTERS:
            # A few small trusts, so suppression runs too; the rest share out the million.
            received = 3 if i % 100 == 7 else per_row
            acknowledged = int(received * rng.uniform(0.85, 0.98))
            ack_days = _histogram(rng, acknowledged)
            ack_decided = min(received, acknowledged + int(received * 0.02))
            closed = int(received * rng.uniform(0.6, 0.9))
            rows.append(
                OrganisationQuarterFigures(
                    organisation=provider,
                    quarter=quarter,
                    received=received,
                    ack_decided=ack_decided,
                    ack_in_time=int(acknowledged * rng.uniform(0.7, 0.95)),
                    acknowledged=acknowledged,
                    ack_days=ack_days,
                    median_days_to_acknowledge=histogram_median(ack_days),
                    feedback_decided=int(received * 0.8),
                    feedback_in_time=int(received * rng.uniform(0.5, 0.75)),
                    escalated=int(received * rng.uniform(0.02, 0.1)),
                    closed=closed,
                    closed_without_feedback=int(closed * rng.uniform(0.0, 0.1)),
                )
            )
    OrganisationQuarterFigures.objects.bulk_create(rows, batch_size=1000)
    # The small trusts do not reach the million; top it up on the first trust so the total is exact.
    shortfall = CONCERNS - sum(r.received for r in rows)
    first = OrganisationQuarterFigures.objects.get(organisation=world["providers"][0], quarter=QUARTERS[-1])
    first.received += shortfall
    first.save(update_fields=["received"])

    tallies = []
    for i, provider in enumerate(world["providers"]):
        holders = [provider, world["boards"][i], world["icbs"][i % ICBS], world["regulator"]]
        for level, holder in enumerate(holders):
            tallies.append(
                OversightTally(
                    unit=provider,
                    holder=holder,
                    open_escalations=rng.randrange(0, 12) if level else 0,
                    overdue_clocks=rng.randrange(0, 20),
                    open_alerts=rng.randrange(0, 30),
                )
            )
    OversightTally.objects.bulk_create(tallies, batch_size=1000)
    FiguresRollup.objects.update_or_create(pk=1, defaults={"rolled_at": datetime.now(UTC), "folded": CONCERNS})
    return sum(r.received for r in rows) + shortfall


def _seed_concerns(world: dict[str, Any]) -> float:
    """CONCERNS concern rows in one INSERT ... SELECT; returns the seconds it took."""
    from django.db import connection

    from backend.concerns.models import Concern
    from backend.organisations.policies import policy_for_organisation

    policy = policy_for_organisation(organisation=world["providers"][0])
    first_provider = world["providers"][0].pk
    first_board = world["boards"][0].pk
    first_icb = world["icbs"][0].pk
    start = datetime(2024, 4, 1, tzinfo=UTC)
    span = (datetime(2026, 3, 31, tzinfo=UTC) - start).total_seconds()
    # Spread over two years, in a scrambled order so neighbouring rows are not neighbouring days.
    step = span / CONCERNS
    received_at = (
        f"timestamptz '{start.isoformat()}' + mod(g::bigint * 7919, {CONCERNS}) * {step} * interval '1 second'"
    )
    # Providers, boards and ICBs were bulk-created in order, so their ids are consecutive.
    explicit = {
        "reference": "'B' || lpad(g::text, 9, '0')",
        "raiser_kind": "(ARRAY['staff','staff','patient','carer','public'])[1 + mod(g, 5)]",
        "identity_mode": "(ARRAY['named','confidential','anonymous'])[1 + mod(g, 3)]",
        "themes": f"""('["' || (ARRAY[{THEMES}])[1 + mod(g, 5)] || '"]')::jsonb""",
        "unit_id": f"{first_provider} + mod(g, {PROVIDERS})",
        "holder_id": f"CASE WHEN mod(g, 100) < 90 THEN {first_provider} + mod(g, {PROVIDERS})"
        f" WHEN mod(g, 100) < 97 THEN {first_board} + mod(g, {PROVIDERS}) ELSE {first_icb} + mod(g, {ICBS}) END",
        "route_level": "CASE WHEN mod(g, 100) < 90 THEN 0 WHEN mod(g, 100) < 97 THEN 1 ELSE 2 END",
        "state": f"CASE WHEN mod(g, 100) >= 90 THEN 'escalated' ELSE (ARRAY[{STATES}])[1 + mod(g, 7)] END",
        "policy_id": str(policy.pk),
        "received_at": received_at,
        "last_activity_at": received_at,
        "what_happened": "'x'",
    }
    columns, values, params = [], [], []
    for field in Concern._meta.concrete_fields:
        if field.primary_key:
            continue
        columns.append(field.column)
        if field.column in explicit:
            values.append(explicit[field.column])
        elif field.null and not field.has_default():
            values.append("NULL")
        else:
            values.append("%s")
            params.append(field.get_db_prep_save(field.get_default(), connection))
    sql = (
        f"INSERT INTO {Concern._meta.db_table} ({', '.join(columns)}) "
        f"SELECT {', '.join(values)} FROM generate_series(1, {CONCERNS}) AS g"
    )
    began = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        cursor.execute(f"ANALYZE {Concern._meta.db_table}")
    return time.perf_counter() - began


def _live_queries(runs: int) -> dict[str, tuple[float, float, float]]:
    from django.db import connection

    from backend.concerns.models import Concern

    table = Concern._meta.db_table
    quarter = "received_at >= '2026-01-01' AND received_at < '2026-04-01'"

    def run(sql: str) -> Callable[[], Any]:
        def go() -> Any:
            with connection.cursor() as cursor:
                cursor.execute(sql)
                return cursor.fetchall()

        return go

    return {
        "live: received and closed per organisation, one quarter (GROUP BY)": timed(
            run(
                f"SELECT unit_id, count(*), count(*) FILTER (WHERE state = 'closed') FROM {table}"
                f" WHERE {quarter} GROUP BY 1"
            ),
            max(5, runs // 10),
        ),
        "live: received per organisation and quarter, all 1,000,000 (GROUP BY)": timed(
            run(f"SELECT unit_id, date_trunc('quarter', received_at), count(*) FROM {table} GROUP BY 1, 2"),
            max(5, runs // 20),
        ),
        "live: open escalations per holder, all (GROUP BY)": timed(
            run(f"SELECT holder_id, count(*) FROM {table} WHERE state = 'escalated' GROUP BY 1"), max(5, runs // 10)
        ),
    }


def _intake_cost(world: dict[str, Any], runs: int) -> dict[str, tuple[float, float, float]]:
    """What figures_record adds to raising one concern: inside the caller's open transaction (what
    intake pays), and on its own with a commit (an upper bound)."""
    from django.db import transaction

    from backend.concerns.models import Concern, Event
    from backend.oversight.figures import figures_record

    unit = world["providers"][1]

    def record() -> None:
        concern = Concern(pk=1, unit_id=unit.pk, received_at=datetime.now(UTC))
        event = Event(concern=concern, seq=1, kind="raised", data={"unit": unit.code}, created_at=concern.received_at)
        figures_record(events=[event])

    def committed() -> None:
        with transaction.atomic():
            record()

    with transaction.atomic():
        inside = timed(record, runs)
    return {
        "figures_record for one intake, inside its transaction (one INSERT)": inside,
        "figures_record for one intake, own transaction with commit": timed(committed, runs),
    }


def _rollup_rate(world: dict[str, Any], deltas: int) -> tuple[int, float]:
    """Fold ``deltas`` pending deltas (spread over every trust) and return (folded, seconds)."""
    from backend.oversight.figures import figures_rollup
    from backend.oversight.models import FigureDelta, Measure

    rng = random.Random(7)
    providers, boards = world["providers"], world["boards"]
    rows = []
    for _ in range(deltas):
        i = rng.randrange(PROVIDERS)
        if rng.random() < 0.7:
            measure = rng.choice([Measure.RECEIVED, Measure.ACK_DECIDED, Measure.ACK_IN_TIME, Measure.ACK_DAYS])
            rows.append(
                FigureDelta(unit=providers[i], quarter=QUARTERS[-1], measure=measure, bucket=rng.randrange(10), value=1)
            )
        else:
            rows.append(FigureDelta(unit=providers[i], holder=boards[i], measure=Measure.OPEN_ESCALATIONS, value=1))
    FigureDelta.objects.bulk_create(rows, batch_size=5000)
    began = time.perf_counter()
    folded = figures_rollup()
    return folded, time.perf_counter() - began


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200, help="timed runs per measurement")
    parser.add_argument("--with-concerns", action="store_true", help="also insert 1,000,000 concern rows")
    parser.add_argument("--keep", action="store_true", help="keep the bench database afterwards")
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    args = parser.parse_args(argv)

    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        print("DATABASE_URL must point at PostgreSQL: source the env that infra/scripts/services.sh wrote.")
        return 2
    bench_url = bench_database(url, SUFFIX)
    os.environ["DATABASE_URL"] = bench_url
    os.environ.setdefault("CANDOUR_VAR_DIR", tempfile.mkdtemp(prefix="candour-bench-"))
    os.environ["DJANGO_SETTINGS_MODULE"] = "backend.config.settings.local"
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    rng = random.Random(20260105)
    began = time.perf_counter()
    world = _seed_organisations()
    users = _seed_users(world)
    total = _seed_figures(world, rng)
    seed_seconds = time.perf_counter() - began
    assert total == CONCERNS, total
    concern_seconds = _seed_concerns(world) if args.with_concerns else None
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")

    from rest_framework.test import APIRequestFactory, force_authenticate

    from backend.api import oversight_views
    from backend.oversight import selectors

    one_code = world["providers"][1].code
    results: dict[str, tuple[float, float, float]] = {}
    checks: dict[str, int] = {}

    def dashboard(user: Any) -> Callable[[], Any]:
        def go() -> Any:
            return selectors.oversight_dashboard(user=user)

        return go

    checks["dashboard rows, governor of one trust"] = len(dashboard(users["governor"])().rows)
    checks["dashboard rows, commissioner of 25 trusts"] = len(dashboard(users["commissioner"])().rows)
    checks["dashboard rows, all 500 trusts"] = len(dashboard(users["national"])().rows)
    checks["public rows, one organisation (quarters)"] = len(
        selectors.public_figures_for_organisation(code=one_code).quarters  # type: ignore[union-attr]
    )
    checks["public rows, all organisations (one quarter)"] = len(selectors.public_figures_by_quarter().organisations)

    results["selector: governor's dashboard, one trust"] = timed(dashboard(users["governor"]), args.runs)
    results["selector: dashboard, commissioner of 25 trusts"] = timed(dashboard(users["commissioner"]), args.runs)
    results["selector: dashboard, all 500 trusts"] = timed(dashboard(users["national"]), args.runs)
    from backend.concerns import scope

    national_q = scope.oversight_q(user=users["national"])
    results["  of which scope.oversight_q, all 500 trusts (20 memberships)"] = timed(
        lambda: scope.oversight_q(user=users["national"]), args.runs
    )
    results["  of which the tallies read, all 500 trusts"] = timed(
        lambda: selectors._dashboard_rows(national_q), args.runs
    )
    results["selector: public figures, one organisation (8 quarters)"] = timed(
        lambda: selectors.public_figures_for_organisation(code=one_code), args.runs
    )
    results["selector: public figures, all 500 organisations (one quarter)"] = timed(
        lambda: selectors.public_figures_by_quarter(), args.runs
    )

    factory = APIRequestFactory()

    def api(view: Any, path: str, user: Any = None, **kwargs: Any) -> Callable[[], Any]:
        def go() -> Any:
            request = factory.get(path)
            if user is not None:
                force_authenticate(request, user=user)
            response = view(request, **kwargs)
            response.render()
            assert response.status_code == 200, response.status_code
            return response

        return go

    dashboard_view = oversight_views.OversightDashboardApi.as_view()
    quarter_view = oversight_views.PublicFiguresQuarterApi.as_view()
    organisation_view = oversight_views.PublicFiguresOrganisationApi.as_view()
    results["API in-process: dashboard, one trust"] = timed(
        api(dashboard_view, "/api/v1/oversight/dashboard/", users["governor"]), args.runs
    )
    results["API in-process: dashboard, all 500 trusts"] = timed(
        api(dashboard_view, "/api/v1/oversight/dashboard/", users["national"]), args.runs
    )
    results["API in-process: public figures, one organisation"] = timed(
        api(organisation_view, f"/api/v1/public/figures/{one_code}/", code=one_code), args.runs
    )
    results["API in-process: public figures, all 500 organisations"] = timed(
        api(quarter_view, "/api/v1/public/figures/"), max(20, args.runs // 4)
    )
    results.update(_intake_cost(world, args.runs))
    if args.with_concerns:
        results.update(_live_queries(args.runs))
    folded, fold_seconds = _rollup_rate(world, 100_000)

    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        pg_version = cursor.fetchone()[0]  # type: ignore[index]
        cursor.execute("SELECT current_setting('fsync')")
        fsync = cursor.fetchone()[0]  # type: ignore[index]

    goal = {"one": 10.0, "all": 20.0}
    lines = [
        f"`.venv/bin/python -m tests.bench.bench_oversight{' --with-concerns' if args.with_concerns else ''}`"
        f" on {datetime.now(UTC):%Y-%m-%d}, PostgreSQL {pg_version} (fsync {fsync}), Python "
        f"{sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end"
        " (other work on the machine inflates every figure).",
        "",
        f"Seeded {PROVIDERS} provider trusts (and {PROVIDERS} trust boards, {ICBS} ICBs, one regulator) with the",
        f"folded figures of {CONCERNS:,} concerns: {PROVIDERS * len(QUARTERS):,} organisation-quarter rows and "
        f"{PROVIDERS * 4:,} dashboard tallies, in {seed_seconds:.1f} s."
        + (
            f" Plus {CONCERNS:,} concern rows for the live comparison, in {concern_seconds:.1f} s."
            if concern_seconds
            else ""
        ),
        "Selectors read only the folded tables (the rollup keeps them within 30 s of the truth). Goal: 10 ms or",
        "less for one organisation, 20 ms or less for all of them. Median and 95th percentile of "
        f"{args.runs} runs after warming up.",
        "",
        "| measurement | median ms | p95 ms | fastest ms | goal (on the median) |",
        "|---|---:|---:|---:|---|",
    ]
    for name, (median, p95, fastest) in results.items():
        target = ""
        if name.startswith("selector:"):
            limit = goal["all"] if ("all" in name or "25" in name) else goal["one"]
            target = f"≤ {limit:.0f} ms {'met' if median <= limit else 'MISSED'}"
        lines.append(f"| {name} | {median:.2f} | {p95:.2f} | {fastest:.2f} | {target} |")
    lines += [
        "",
        f"Rollup: folded {folded:,} pending deltas (spread over all trusts) in {fold_seconds:.2f} s "
        f"({folded / fold_seconds:,.0f} deltas/s).",
        "Rows returned: " + "; ".join(f"{k}: {v}" for k, v in checks.items()) + ".",
        f"Peak RSS of the benchmark process: {rss_mb:.0f} MB.",
    ]
    if not args.with_concerns:
        lines.append("The live GROUP BY comparison over 1,000,000 concern rows was not run (add --with-concerns).")
    report = "\n".join(lines)
    print(report)
    if not args.no_write:
        section_write(SECTION, report)
        print(f"\nWrote the {SECTION!r} section of {BENCHMARKS}")
    connection.close()
    if not args.keep:
        drop_database(bench_url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
