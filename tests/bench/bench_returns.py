"""Benchmark: the quarterly speaking-up return and the guardian's board report at 1,000,000 concerns, for
one trust and for an integrated care board of 25 trusts (time and peak memory).

    bash infra/scripts/services.sh start /tmp/bench --durable
    source /tmp/bench/env
    .venv/bin/python -m tests.bench.bench_returns [--runs 100] [--keep] [--no-write]

It makes its own database beside DATABASE_URL's (``<name>_bench_returns``, dropped at the end unless
--keep), migrates it, and seeds 4 integrated care boards of 25 provider trusts each (one ward per
trust), then 1,000,000 concerns over the wards and 8 quarters in one INSERT ... SELECT over
generate_series: one or two themes, a third anonymous, a professional group (some not recorded), one
in 25 with detriment reported, and half answering "would you speak up again?". The folded return
counts (ReturnCount) are then built from those rows by one INSERT ... SELECT ... GROUP BY that counts
exactly as backend.oversight.figures folds them (the trust above the ward, the quarter received in
local time, a concern under each of its themes, no group recorded as "not known"), and the benchmark
checks one trust's return against a plain count over the concerns before timing anything. The fold
itself is timed separately: 100,000 pending return deltas folded by figures_rollup.

Timed (median and 95th percentile of --runs runs after warming up): the selector for one trust and
for the board, as submitted and as published; the API in-process (JSON, and the streamed CSV read to
its end); the command. Peak memory: the Python heap's peak while streaming the board's CSV
(tracemalloc) and the process's peak RSS. Prints the results and rewrites the "## Quarterly return"
section of BENCHMARKS.md. Not collected by pytest (no test_ prefix).
"""

from __future__ import annotations

import argparse
import io
import os
import random
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from tests.bench.common import bench_database, drop_database, machine, max_rss_mib, section_write, timed

TITLE = "Quarterly return"
ICBS = 4
PER_ICB = 25
PROVIDERS = ICBS * PER_ICB
CONCERNS = 1_000_000
SUFFIX = "_bench_returns"
FIRST = datetime(2024, 4, 1, tzinfo=UTC)
LAST = datetime(2026, 3, 31, tzinfo=UTC)
QUARTER = date(2025, 10, 1)  # one of the eight quarters seeded
THEMES = ("patient_safety", "worker_safety", "bullying", "behaviour", "other")


def _seed_organisations() -> dict[str, Any]:
    from backend.organisations.models import Organisation, OrganisationKind

    def make(code: str, name: str, kind: str, parent: Organisation | None = None, **extra: Any) -> Organisation:
        path = Organisation.path_for(parent_path=parent.path if parent else None, code=code)
        return Organisation(code=code, name=name, kind=kind, parent=parent, path=path, **extra)

    icbs = [make(f"RQ{i}", f"Bench ICB {i}", OrganisationKind.ICB) for i in range(ICBS)]
    Organisation.objects.bulk_create(icbs)
    providers = [
        make(f"RP{i:03d}", f"Bench Trust {i:03d}", OrganisationKind.PROVIDER, commissioned_by=icbs[i // PER_ICB])
        for i in range(PROVIDERS)
    ]
    Organisation.objects.bulk_create(providers)
    units = [make(f"RP{i:03d}W", f"Ward of {p.name}", OrganisationKind.UNIT, p) for i, p in enumerate(providers)]
    Organisation.objects.bulk_create(units)
    return {"icbs": icbs, "providers": providers, "units": units}


def _seed_concerns(world: dict[str, Any]) -> float:
    """CONCERNS concern rows in one INSERT ... SELECT over generate_series; the seconds it took."""
    from django.db import connection

    from backend.concerns.models import Concern
    from backend.organisations.policies import policy_for_organisation
    from workflows.engine.vocabulary import ProfessionalGroup

    policy = policy_for_organisation(organisation=world["units"][0])
    first_unit = world["units"][0].pk  # bulk-created in order: consecutive ids
    step = (LAST - FIRST).total_seconds() / CONCERNS
    received_at = (
        f"timestamptz '{FIRST.isoformat()}' + mod(g::bigint * 7919, {CONCERNS}) * {step} * interval '1 second'"
    )
    groups = ", ".join(f"'{g.value}'" for g in ProfessionalGroup) + ", '', ''"  # some not recorded
    themes = ", ".join(f"'{t}'" for t in THEMES)
    explicit = {
        "reference": "'R' || lpad(g::text, 9, '0')",
        "raiser_kind": "(ARRAY['staff','staff','staff','patient','carer'])[1 + mod(g, 5)]",
        "identity_mode": f"(ARRAY['named','confidential','anonymous'])[1 + mod(g / {PROVIDERS}, 3)]",
        # One theme, or two for one concern in four; g / PROVIDERS so each trust gets every mix.
        "themes": f"CASE WHEN mod(g / {PROVIDERS}, 4) = 0 THEN jsonb_build_array("
        f"(ARRAY[{themes}])[1 + mod(g / {PROVIDERS}, 5)], (ARRAY[{themes}])[1 + mod(g / {PROVIDERS} + 2, 5)])"
        f" ELSE jsonb_build_array((ARRAY[{themes}])[1 + mod(g / {PROVIDERS}, 5)]) END",
        "professional_group": f"(ARRAY[{groups}])[1 + mod(g / 7, {len(ProfessionalGroup) + 2})]",
        "detriment_reported": f"mod(g / {PROVIDERS}, 25) = 3",
        "would_speak_up_again": f"CASE WHEN mod(g / {PROVIDERS}, 2) = 0"
        " THEN (ARRAY['yes','yes','yes','no','maybe','dont_know'])[1 + mod(g / 2, 6)] ELSE '' END",
        "unit_id": f"{first_unit} + mod(g, {PROVIDERS})",
        "holder_id": f"{first_unit} + mod(g, {PROVIDERS})",
        "state": "'closed'",
        "policy_id": str(policy.pk),
        "received_at": received_at,
        "last_activity_at": received_at,
        "what_happened": "'x'",
        "arrival_checks_pending": "false",
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


# The folded counts, as figures.py folds them: by the trust above the ward (the unit's parent here),
# the quarter received in local time, each measure and key. One row per (trust, quarter, measure, key).
_FOLD = """
WITH c AS (
  SELECT u.parent_id AS organisation_id,
         date_trunc('quarter', c.received_at AT TIME ZONE %(tz)s)::date AS quarter,
         c.identity_mode, c.themes, c.detriment_reported, c.would_speak_up_again,
         CASE WHEN c.professional_group = '' THEN 'not_known' ELSE c.professional_group END AS grp
  FROM {concern} c JOIN {organisation} u ON u.id = c.unit_id
)
INSERT INTO {table} (organisation_id, quarter, measure, key, value)
SELECT organisation_id, quarter, measure, key, count(*) FROM (
  SELECT organisation_id, quarter, 'r_cases' AS measure, '' AS key FROM c
  UNION ALL SELECT organisation_id, quarter, 'r_anonymous', '' FROM c WHERE identity_mode = 'anonymous'
  UNION ALL SELECT organisation_id, quarter, 'r_theme', t FROM c, jsonb_array_elements_text(c.themes) AS t
  UNION ALL SELECT organisation_id, quarter, 'r_detriment', '' FROM c WHERE detriment_reported
  UNION ALL SELECT organisation_id, quarter, 'r_group', grp FROM c
  UNION ALL SELECT organisation_id, quarter, 'r_speak_up', would_speak_up_again FROM c
    WHERE would_speak_up_again <> ''
) counted GROUP BY 1, 2, 3, 4
"""


def _seed_folded() -> tuple[float, int]:
    from django.conf import settings
    from django.db import connection

    from backend.concerns.models import Concern
    from backend.organisations.models import Organisation
    from backend.oversight.models import FiguresRollup, ReturnCount

    sql = _FOLD.format(
        concern=Concern._meta.db_table, organisation=Organisation._meta.db_table, table=ReturnCount._meta.db_table
    )
    began = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(sql, {"tz": settings.TIME_ZONE})
        cursor.execute(f"ANALYZE {ReturnCount._meta.db_table}")
    FiguresRollup.objects.update_or_create(pk=1, defaults={"rolled_at": datetime.now(UTC), "folded": CONCERNS})
    return time.perf_counter() - began, ReturnCount.objects.count()


def _seed_board_history(world: dict[str, Any]) -> tuple[float, int, int]:
    """What a board report reads beside the return, at the same scale: one concern in ten escalated
    (an escalate Event, eight days after it was received, to the trust's board) and one in twenty with
    a sidelining alert (half of them resolved). By SQL over the seeded concerns; the seconds it took."""
    from django.db import connection

    from backend.concerns.models import Event
    from backend.oversight.models import Alert

    began = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {Event._meta.db_table} (concern_id, seq, kind, actor_role, from_state, to_state, data,"
            " visible_to_raiser, created_at, prev_hash, hash) "
            "SELECT c.id, 2, 'escalate', 'system', 'received', 'escalated',"
            " jsonb_build_object('from', u.code, 'to', t.code || 'B', 'level', 1, 'reason', 'acknowledge_breached'),"
            " true, c.received_at + interval '8 days', md5(c.id::text) || md5('p' || c.id),"
            " md5('h' || c.id) || md5('e' || c.id) "
            "FROM concerns_concern c JOIN organisations_organisation u ON u.id = c.unit_id"
            " JOIN organisations_organisation t ON t.id = u.parent_id WHERE mod(c.id, 10) = 0"
        )
        events = cursor.rowcount
        cursor.execute(
            f"INSERT INTO {Alert._meta.db_table} (concern_id, rule, organisation_id, opened_at, resolved_at,"
            " resolution, subject) "
            "SELECT c.id, 'unacknowledged', u.parent_id, c.received_at + interval '8 days',"
            " CASE WHEN mod(c.id, 40) = 0 THEN c.received_at + interval '20 days' END, '', '' "
            "FROM concerns_concern c JOIN organisations_organisation u ON u.id = c.unit_id WHERE mod(c.id, 20) = 0"
        )
        alerts = cursor.rowcount
        cursor.execute(f"ANALYZE {Event._meta.db_table}")
        cursor.execute(f"ANALYZE {Alert._meta.db_table}")
    return time.perf_counter() - began, events, alerts


def _check(provider: Any) -> dict[str, int]:
    """One trust's return against plain counts over its concerns: the seeding folded them rightly."""
    from django.conf import settings
    from django.db import connection

    from backend.oversight.returns import quarterly_return

    found = quarterly_return(organisation=provider, quarter=QUARTER, published=False)
    lines = {(line.measure, line.key): int(line.count.value or 0) for line in found.lines}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), count(*) FILTER (WHERE identity_mode = 'anonymous'),"
            " count(*) FILTER (WHERE themes ? 'bullying'), count(*) FILTER (WHERE would_speak_up_again = 'yes')"
            " FROM concerns_concern c JOIN organisations_organisation u ON u.id = c.unit_id"
            " WHERE u.parent_id = %s AND date_trunc('quarter', c.received_at AT TIME ZONE %s)::date = %s",
            [provider.pk, settings.TIME_ZONE, QUARTER],
        )
        cases, anonymous, bullying, yes = cursor.fetchone()  # type: ignore[misc]
    assert lines[("r_cases", "")] == cases, (lines[("r_cases", "")], cases)
    assert lines[("r_anonymous", "")] == anonymous
    assert lines[("r_theme", "bullying")] == bullying
    assert lines[("r_speak_up", "yes")] == yes
    assert sum(v for (m, _), v in lines.items() if m == "r_group") == cases
    return {"cases": cases, "anonymous": anonymous, "bullying": bullying}


def _fold_rate(world: dict[str, Any], deltas: int) -> tuple[int, float]:
    """Fold ``deltas`` pending return deltas (over every ward, as intakes would write them)."""
    from backend.oversight.figures import GROUP_BUCKETS, THEME_BUCKETS, figures_rollup
    from backend.oversight.models import FigureDelta, Measure

    rng = random.Random(11)
    rows = []
    for _ in range(deltas):
        unit = world["units"][rng.randrange(PROVIDERS)]
        measure, bucket = rng.choice(
            [
                (Measure.RETURN_CASES, 0),
                (Measure.RETURN_THEME, rng.choice(list(THEME_BUCKETS.values()))),
                (Measure.RETURN_GROUP, rng.choice(list(GROUP_BUCKETS.values()))),
            ]
        )
        rows.append(FigureDelta(unit=unit, quarter=date(2026, 1, 1), measure=measure, bucket=bucket, value=1))
    FigureDelta.objects.bulk_create(rows, batch_size=5000)
    began = time.perf_counter()
    folded = figures_rollup()
    return folded, time.perf_counter() - began


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=100, help="timed runs per measurement")
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
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from rest_framework.test import APIRequestFactory, force_authenticate

    from backend.api.return_views import QuarterlyReturnApi
    from backend.organisations.demo import DEMO_PASSWORD
    from backend.organisations.models import Membership, Role
    from backend.oversight.returns import quarterly_return, quarterly_return_csv
    from tests.support.sign_in import sign_in

    call_command("migrate", verbosity=0)
    world = _seed_organisations()
    concern_seconds = _seed_concerns(world)
    fold_seed_seconds, folded_rows = _seed_folded()
    trust, icb = world["providers"][0], world["icbs"][0]
    checked = _check(trust)
    commissioner = get_user_model().objects.create_user(username="bench-commissioner")
    Membership.objects.create(user=commissioner, organisation=icb, role=Role.COMMISSIONER)
    board_cases = int(quarterly_return(organisation=icb, quarter=QUARTER, published=False).cases.value or 0)

    runs = args.runs
    results: dict[str, tuple[float, float, float]] = {}
    for published in (False, True):
        form = "published" if published else "submitted"
        results[f"selector: one trust, {form}"] = timed(
            lambda p=published: quarterly_return(organisation=trust, quarter=QUARTER, published=p), runs
        )
        results[f"selector: ICB of {PER_ICB} trusts (rolled up), {form}"] = timed(
            lambda p=published: quarterly_return(organisation=icb, quarter=QUARTER, published=p), runs
        )

    factory = APIRequestFactory()
    view = QuarterlyReturnApi.as_view()

    def api(code: str, fmt: str) -> Callable[[], int]:
        def go() -> int:
            request = factory.get(
                "/api/v1/returns/quarterly/", {"organisation": code, "quarter": "2025Q4", "format": fmt}
            )
            force_authenticate(request, user=commissioner)
            response = view(request)
            assert response.status_code == 200, response.status_code
            if fmt == "csv":
                return sum(len(chunk) for chunk in response.streaming_content)  # type: ignore[attr-defined]
            response.render()
            return len(response.content)

        return go

    results["API in-process: one trust, JSON"] = timed(api(trust.code, "json"), runs)
    results[f"API in-process: ICB of {PER_ICB} trusts, JSON"] = timed(api(icb.code, "json"), runs)
    results[f"API in-process: ICB of {PER_ICB} trusts, CSV streamed to the end (roll-up and each trust)"] = timed(
        api(icb.code, "csv"), max(10, runs // 5)
    )

    def command() -> None:
        call_command(
            "return_quarterly", "--org", icb.code, "--quarter", "2025Q4", stdout=io.StringIO(), stderr=io.StringIO()
        )

    results[f"command: return_quarterly --org (ICB of {PER_ICB} trusts)"] = timed(command, max(10, runs // 5))

    # The guardian's board report: the page (HTML, charts included) and its tagged PDF, through the real
    # views, for one trust and for each of the board's 25 trusts in turn (what its commissioner prints).
    history_seconds, seeded_events, seeded_alerts = _seed_board_history(world)
    guardian = get_user_model().objects.create_user(username="bench-guardian", password=DEMO_PASSWORD)
    Membership.objects.create(user=guardian, organisation=trust, role=Role.GUARDIAN)
    commissioner.set_password(DEMO_PASSWORD)
    commissioner.save()
    # Signed in as staff are, password then second factor (tests.support.sign_in).
    reader = sign_in(Client(), guardian.username)
    board_reader = sign_in(Client(), commissioner.username)
    page_url = f"/oversight/board-report/{trust.code}/2025Q4/"

    def board(client: Client, url: str) -> int:
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        return len(response.content)

    report_runs = max(5, runs // 10)
    results["board report: one trust, HTML page"] = timed(lambda: board(reader, page_url), report_runs)
    pdf_bytes = board(reader, page_url + "report.pdf")
    results["board report: one trust, PDF"] = timed(lambda: board(reader, page_url + "report.pdf"), report_runs, 1)
    icb_trusts = world["providers"][:PER_ICB]

    def every_trust(suffix: str) -> None:
        for provider in icb_trusts:
            board(board_reader, f"/oversight/board-report/{provider.code}/2025Q4/{suffix}")

    results[f"board report: each of the ICB's {PER_ICB} trusts, HTML pages one after another"] = timed(
        lambda: every_trust(""), 3, 1
    )
    results[f"board report: each of the ICB's {PER_ICB} trusts, PDFs one after another"] = timed(
        lambda: every_trust("report.pdf"), 3, 1
    )

    tracemalloc.start()
    csv_rows = sum(1 for _ in quarterly_return_csv(organisation=icb, quarter=QUARTER, published=False))
    _, heap_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    folded, fold_seconds = _fold_rate(world, 100_000)
    rss = max_rss_mib()
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('fsync')")
        fsync = cursor.fetchone()[0]

    lines = [
        f"`.venv/bin/python -m tests.bench.bench_returns` ({machine()}, fsync {fsync}, {os.cpu_count()} CPUs,"
        f" load average {os.getloadavg()[0]:.1f} at the end: other work on the machine inflates every figure).",
        "",
        f"Seeded {ICBS} integrated care boards of {PER_ICB} trusts (a ward each) and {CONCERNS:,} concerns over 8"
        f" quarters with one INSERT ... SELECT over generate_series in {concern_seconds:.1f} s; the folded return"
        f" counts ({folded_rows:,} ReturnCount rows) built from them by one INSERT ... SELECT ... GROUP BY that"
        f" counts as the fold does, in {fold_seed_seconds:.1f} s. Checked before timing: trust {trust.code}'s"
        f" return for the quarter matches plain counts over its concerns ({checked['cases']:,} cases,"
        f" {checked['anonymous']:,} anonymous, {checked['bullying']:,} about bullying); the board's rolls up"
        f" {board_cases:,} cases. Median and 95th percentile after warming up.",
        "",
        "| measurement | median ms | p95 ms | fastest ms |",
        "|---|---:|---:|---:|",
        *(f"| {name} | {m:.2f} | {p:.2f} | {f:.2f} |" for name, (m, p, f) in results.items()),
        "",
        f"Memory: streaming the board's CSV ({csv_rows} rows: the roll-up, then each trust, {PER_ICB} trusts a"
        f" query at most) peaked at {heap_peak / 1024:.0f} KiB of Python heap (tracemalloc); the benchmark"
        f" process's peak RSS was {rss:.0f} MiB, most of it Django and the seeding. No read touches a concern.",
        f"Fold: {folded:,} pending return deltas folded by figures_rollup in {fold_seconds:.2f} s"
        f" ({folded / fold_seconds:,.0f} deltas/s).",
        f"Board report: besides the return it reads escalate Events and sidelining alerts of the quarter;"
        f" {seeded_events:,} escalate Events and {seeded_alerts:,} alerts were seeded over the same concerns"
        f" (one in ten escalated, one in twenty alerted) in {history_seconds:.1f} s. One trust's PDF is"
        f" {pdf_bytes / 1024:.0f} KiB; the pages and PDFs are rendered through the real views (Django's test"
        f" client, signed in), charts included.",
    ]
    report = "\n".join(lines)
    print(f"## {TITLE}\n\n{report}")
    if not args.no_write:
        section_write(TITLE, report)
        print(f"\nWrote the '## {TITLE}' section of BENCHMARKS.md")
    connection.close()
    if not args.keep:
        drop_database(bench_url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
