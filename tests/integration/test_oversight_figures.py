"""Oversight figures: deltas recorded beside each change, folded by the rollup, read by the selectors.

The services record figures themselves (event_append, the sweep a batch at a time, alerts). Figures
are checked three ways: exact numbers for a told story, the truth counted straight from concerns,
alerts and clocks for a long random one, and a rebuild from the audit trail that must agree.
"""

from __future__ import annotations

import random
import threading
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.db.models import Count
from django.test import Client

from backend.concerns import services
from backend.concerns.models import Clock, ClockStatus, Concern, Event, Message, MessageKind
from backend.organisations.models import Organisation
from backend.oversight import selectors
from backend.oversight import services as oversight_services
from backend.oversight.figures import (
    ACK_DAYS_TOP,
    ACTIVITY_KINDS,
    days_bucket,
    figures_rebuild,
    figures_rollup,
    histogram_median,
    quarter_of,
)
from backend.oversight.models import Alert, FigureDelta, FiguresRollup, OrganisationQuarterFigures, OversightTally
from backend.oversight.services import alert_resolve
from tests.support.sign_in import sign_in
from workflows.engine import lifecycle

START = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)  # a Monday
Q1 = date(2026, 1, 1)


def user(username: str) -> User:
    return get_user_model().objects.get(username=username)


def org(code: str) -> Organisation:
    return Organisation.objects.get(code=code)


def at(moment: datetime, step: Any, **kwargs: Any) -> Any:
    with time_machine.travel(moment, tick=False):
        return step(now=moment, **kwargs)


def raise_concern(moment: datetime, unit: str = "RNX07", **extra: Any) -> Concern:
    fields: dict[str, Any] = {
        "raiser_kind": "staff",
        "identity_mode": "named",
        "raiser_name": "Raiser Canary",
        "themes": ["patient_safety"],
        "what_happened": "NARRATIVE-CANARY",
    }
    fields.update(extra)
    draft = services.ConcernDraft(unit=org(unit), **fields)
    return at(moment, services.concern_raise, draft=draft).concern


def public_row(code: str, quarter: date) -> OrganisationQuarterFigures:
    return OrganisationQuarterFigures.objects.get(organisation__code=code, quarter=quarter)


def tallies() -> dict[tuple[str, str], tuple[int, int, int]]:
    return {
        (t.unit.code, t.holder.code): (t.open_escalations, t.overdue_clocks, t.open_alerts)
        for t in OversightTally.objects.select_related("unit", "holder")
        if (t.open_escalations, t.overdue_clocks, t.open_alerts) != (0, 0, 0)
    }


def snapshot() -> tuple[dict[Any, Any], dict[Any, Any]]:
    public = {
        (f.organisation_id, f.quarter): (
            f.received,
            f.ack_decided,
            f.ack_in_time,
            f.acknowledged,
            [n for n in f.ack_days] + [0] * (ACK_DAYS_TOP + 1 - len(f.ack_days)),
            f.median_days_to_acknowledge,
            f.feedback_decided,
            f.feedback_in_time,
            f.escalated,
            f.closed,
            f.closed_without_feedback,
        )
        for f in OrganisationQuarterFigures.objects.all()
    }
    tally = {
        (t.unit_id, t.holder_id): (t.open_escalations, t.overdue_clocks, t.open_alerts)
        for t in OversightTally.objects.all()
        if (t.open_escalations, t.overdue_clocks, t.open_alerts) != (0, 0, 0)
    }
    return public, tally


def alert_truth() -> dict[tuple[str, str], int]:
    rows = Alert.objects.filter(resolved_at__isnull=True).values_list("concern__unit__code", "organisation__code")
    return dict(Counter(rows))


# -- pure pieces -------------------------------------------------------------------------------------


def test_small_counts_are_suppressed_and_rates_built_on_them_withheld() -> None:
    assert selectors.count_figure(0).display == "0"
    assert [selectors.count_figure(n).display for n in range(1, 5)] == ["fewer than 5"] * 4
    assert all(selectors.count_figure(n).withheld and selectors.count_figure(n).value is None for n in range(1, 5))
    assert selectors.count_figure(5) == selectors.Figure(value=5.0, display="5", withheld=False)

    assert selectors.share_figure(0, 0).display == "not applicable"
    assert selectors.share_figure(0, 20) == selectors.Figure(value=0.0, display="0%", withheld=False)
    assert selectors.share_figure(20, 20).display == "100%"
    assert selectors.share_figure(15, 20) == selectors.Figure(value=75.0, display="75%", withheld=False)
    for numerator, base in [(3, 20), (3, 4), (17, 20), (0, 4), (4, 4)]:
        # A small numerator, a small base, or a small remainder (17 of 20 gives away the 3 that were not).
        assert selectors.share_figure(numerator, base) == selectors.Figure(None, "withheld", True), (numerator, base)

    assert selectors.median_figure(None, 0).display == "not applicable"
    assert selectors.median_figure(2.0, 3).withheld
    assert selectors.median_figure(1.0, 9).display == "1 day"
    assert selectors.median_figure(2.5, 9).display == "2.5 days"
    assert selectors.median_figure(0.0, 9).display == "less than 1 day"
    assert selectors.median_figure(float(ACK_DAYS_TOP), 9).display == f"{ACK_DAYS_TOP} days or more"


def test_histogram_median_quarters_and_buckets() -> None:
    assert histogram_median([]) is None
    assert histogram_median([0, 0]) is None
    assert histogram_median([0, 1]) == 1.0
    assert histogram_median([1, 1]) == 0.5
    assert histogram_median([0, 9, 0, 0, 0, 0, 0, 1]) == 1.0
    assert histogram_median([2, 0, 0, 2]) == 1.5
    assert histogram_median([1, 1, 1]) == 1.0
    # 30 March 23:30 UTC is 31 March in London (BST): still the first quarter.
    assert quarter_of(datetime(2026, 3, 30, 23, 30, tzinfo=UTC)) == Q1
    assert quarter_of(datetime(2026, 3, 31, 23, 30, tzinfo=UTC)) == date(2026, 4, 1)
    assert selectors.quarter_label(date(2026, 10, 1)) == "October to December 2026"
    assert selectors.quarter_parse("2026-04-01") == date(2026, 4, 1)
    assert [selectors.quarter_parse(t) for t in ("2026-05-01", "2026-04-02", "April", "")] == [None] * 4
    assert days_bucket(received_at=START, acknowledged_at=START + timedelta(hours=23)) == 0
    assert days_bucket(received_at=START, acknowledged_at=START + timedelta(days=400)) == ACK_DAYS_TOP


# -- a told story -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_quarter_of_concerns_gives_exact_figures(demo: None) -> None:
    guardian = user("guardian")
    c = [raise_concern(START + timedelta(hours=i), themes=[["bullying", "other"][i % 2]]) for i in range(12)]
    for concern in c[:9]:
        at(
            START + timedelta(days=1, hours=12),
            services.concern_acknowledge,
            concern_id=concern.pk,
            user=guardian,
        )
    # Four hours after its deadline, before any sweep noticed: late all the same.
    at(START + timedelta(days=7, hours=13), services.concern_acknowledge, concern_id=c[9].pk, user=guardian)
    at(START + timedelta(days=8), services.clocks_fire_due)  # c10 and c11 go up to the trust
    for concern in c[:6]:
        at(
            START + timedelta(days=30),
            services.concern_give_feedback,
            concern_id=concern.pk,
            user=guardian,
            feedback="Done.",
        )
    for concern in (c[6], c[7]):
        at(START + timedelta(days=40), services.concern_close, concern_id=concern.pk, user=guardian, reason="x")
    for concern in c[:3]:
        at(START + timedelta(days=41), services.concern_close, concern_id=concern.pk, user=guardian, reason="x")
    at(START + timedelta(days=42), services.concern_withdraw, concern_id=c[8].pk)

    assert figures_rollup(now=START + timedelta(days=42)) > 0
    assert not FigureDelta.objects.exists()
    row = public_row("RNX", Q1)
    assert (row.received, row.ack_decided, row.ack_in_time, row.acknowledged) == (12, 12, 9, 10)
    assert row.ack_days[1] == 9 and row.ack_days[7] == 1 and sum(row.ack_days) == 10
    assert row.median_days_to_acknowledge == 1.0
    assert (row.feedback_decided, row.feedback_in_time) == (8, 6)
    assert (row.escalated, row.closed, row.closed_without_feedback) == (2, 5, 2)
    # Escalated concerns sit with the trust; the ward's breaches went up with them.
    assert {k: v[:2] for k, v in tallies().items() if v[:2] != (0, 0)} == {("RNX07", "RNX"): (2, 0)}
    assert {k: v[2] for k, v in tallies().items() if v[2]} == alert_truth()

    # The sweep at day 60: the trust missed its own deadline (up to the board) and inactivity caught up.
    at(START + timedelta(days=60), services.clocks_fire_due)
    at(
        START + timedelta(days=61),
        services.concern_message_to_raiser,
        concern_id=c[9].pk,
        user=guardian,
        body="Still on it.",
    )
    figures_rollup()
    assert {k: v[:2] for k, v in tallies().items() if v[:2] != (0, 0)} == {
        ("RNX07", "RNXB"): (2, 0),
        ("RNX07", "RNX07"): (0, 3),  # c3, c4, c5: feedback given, then nothing for 20 working days
    }
    assert {k: v[2] for k, v in tallies().items() if v[2]} == alert_truth()
    assert public_row("RNX", Q1).escalated == 2  # escalated once or twice, counted once

    governor = selectors.oversight_dashboard(user=user("governor"))
    by_code = {r.organisation_code: r for r in governor.rows}
    assert (by_code["RNXB"].open_escalations, by_code["RNX07"].overdue_clocks) == (2, 3)
    assert governor.open_escalations == 2 and governor.overdue_clocks == 3
    assert governor.open_alerts == sum(alert_truth().values())
    assert governor.as_of is not None
    assert selectors.oversight_dashboard(user=user("commissioner")).rows == governor.rows
    assert selectors.oversight_dashboard(user=user("regulator")).rows == []
    assert selectors.oversight_dashboard(user=user("guardian-community")).rows == []

    public = selectors.public_figures_by_quarter(now=START + timedelta(days=61))
    assert public.quarter == Q1 and public.complete is False and public.quarter_label == "January to March 2026"
    (rnx,) = public.organisations
    assert (rnx.organisation_code, rnx.concerns_received.display) == ("RNX", "12")
    assert rnx.median_days_to_acknowledge.display == "1 day"
    # 9 of 12 in time leaves 3 late; 2 of 12 escalated; 2 of 5 closed without feedback: all small.
    assert (
        rnx.acknowledged_in_time.display == rnx.escalated.display == rnx.closed_without_feedback.display == "withheld"
    )

    before = snapshot()
    assert figures_rebuild() == 12
    assert snapshot() == before


@pytest.mark.django_db
def test_paused_clocks_and_patient_deadlines_decide_in_time(demo: None) -> None:
    guardian = user("guardian")
    # A patient's complaint: 3 working days. Raised Monday, acknowledged Thursday 09:00: in time.
    patient = raise_concern(START, raiser_kind="patient")
    at(START + timedelta(days=2, hours=23), services.concern_acknowledge, concern_id=patient.pk, user=guardian)
    # A staff concern paused on day 5 for four days, acknowledged on day 9: in time, the pause counted out.
    paused = raise_concern(START)
    at(
        START + timedelta(days=5),
        services.concern_clocks_pause,
        concern_id=paused.pk,
        user=guardian,
        reason="Waiting for the raiser",
    )
    at(START + timedelta(days=9), services.concern_acknowledge, concern_id=paused.pk, user=guardian)
    # The same, but acknowledged on day 10 after resuming on day 8: three days late.
    late = raise_concern(START)
    at(START + timedelta(days=5), services.concern_clocks_pause, concern_id=late.pk, user=guardian, reason="w")
    at(START + timedelta(days=6), services.concern_clocks_resume, concern_id=late.pk, user=guardian)
    at(START + timedelta(days=9), services.concern_acknowledge, concern_id=late.pk, user=guardian)
    figures_rollup()
    row = public_row("RNX", Q1)
    assert (row.received, row.ack_decided, row.ack_in_time) == (3, 3, 2)
    before = snapshot()
    figures_rebuild()
    assert snapshot() == before


@pytest.mark.django_db
def test_a_concern_placed_on_a_ward_takes_its_counts_with_it(demo: None) -> None:
    guardian = user("guardian")
    raise_concern(START, unit="RNX", raiser_kind="public")
    second = raise_concern(START + timedelta(hours=1), unit="RNX", raiser_kind="public")
    at(START + timedelta(hours=1, seconds=30), oversight_services.concerns_arrival_check)  # the beat's arrival sweep
    assert Alert.objects.filter(concern=second, resolved_at__isnull=True).exists()  # same trust, same theme
    figures_rollup()
    assert tallies() == {("RNX", "RNX"): (0, 0, 1)}
    at(
        START + timedelta(hours=2),
        services.concern_place_on_unit,
        concern_id=second.pk,
        user=guardian,
        unit=org("RNX07"),
    )
    figures_rollup()
    assert tallies() == {("RNX07", "RNX"): (0, 0, 1)}
    alert = Alert.objects.get(concern=second)
    at(START + timedelta(hours=3), alert_resolve, alert_id=alert.pk, user=user("governor"), reason="Looked at")
    figures_rollup()
    assert tallies() == {}
    assert public_row("RNX", Q1).received == 2  # a ward's concerns count under its trust
    before = snapshot()
    figures_rebuild()
    assert snapshot() == before


@pytest.mark.django_db
def test_rollup_folds_in_batches_once_and_steps_aside_when_another_runs(demo: None) -> None:
    for i in range(7):
        raise_concern(START + timedelta(hours=i), unit=["RNX07", "RCXDNE"][i % 2])
    assert FigureDelta.objects.count() >= 7
    assert figures_rollup(batch_size=3) >= 7
    assert figures_rollup() == 0
    assert public_row("RNX", Q1).received == 4 and public_row("RCX", Q1).received == 3
    assert FiguresRollup.objects.get(pk=1).folded >= 7


@pytest.mark.django_db(transaction=True)
def test_a_rollup_steps_aside_while_another_folds(demo: None) -> None:
    raise_concern(START)
    figures_rollup()
    raise_concern(START + timedelta(hours=1))
    holding, release = threading.Event(), threading.Event()

    def other_rollup() -> None:
        try:
            with transaction.atomic():
                FiguresRollup.objects.select_for_update().get(pk=1)
                holding.set()
                release.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=other_rollup)
    thread.start()
    try:
        assert holding.wait(10)
        assert figures_rollup() == 0  # SKIP LOCKED: it neither waits nor folds twice
        assert FigureDelta.objects.exists()
    finally:
        release.set()
        thread.join()
    pending = FigureDelta.objects.count()
    assert figures_rollup() == pending
    assert public_row("RNX", Q1).received == 2
    # Outside any transaction the rebuild reads one REPEATABLE READ snapshot; it agrees all the same.
    before = snapshot()
    assert not connection.in_atomic_block
    assert figures_rebuild() == 2
    assert snapshot() == before


# -- a long random story, against the truth -----------------------------------------------------------

GUARDIANS = {"/RNX/": "guardian", "/RCX/": "guardian-community", "/QNX/": "icb-guardian"}


def _guardian_for(concern: Concern) -> User | None:
    for prefix, name in GUARDIANS.items():
        if concern.holder.path.startswith(prefix):
            return user(name)
    return None


def _overdue_truth() -> dict[tuple[str, str], int]:
    """Breached clocks on open concerns at their current level, not answered since (counted by kind)."""
    answers = {
        "acknowledge": {"acknowledge", "give_feedback"},
        "feedback": {"give_feedback"},
        "inactivity": set(ACTIVITY_KINDS),
    }
    truth: Counter[tuple[str, str]] = Counter()
    open_states = [s.value for s in lifecycle.OPEN]
    for concern in Concern.objects.filter(state__in=open_states).select_related("unit", "holder"):
        fired = Clock.objects.filter(concern=concern, status=ClockStatus.FIRED, route_level=concern.route_level)
        events = list(Event.objects.filter(concern=concern).values_list("kind", "created_at", "seq"))
        kinds = set()
        for clock in fired:
            breach_seq = max(seq for kind, when, seq in events if kind == "clock_breached" and when == clock.fired_at)
            if not any(kind in answers[clock.kind] and seq > breach_seq for kind, _, seq in events):
                kinds.add(clock.kind)
        if kinds:
            truth[(concern.unit.code, concern.holder.code)] += len(kinds)
    return dict(truth)


def _public_truth() -> dict[tuple[str, date], tuple[int, int, int, int, int]]:
    """received, acknowledged, escalated, closed, closed without feedback per trust and quarter."""
    truth: dict[tuple[str, date], list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    for concern in Concern.objects.select_related("unit"):
        trust = concern.unit.path.strip("/").split("/")[0]
        row = truth[(trust, quarter_of(concern.received_at))]
        kinds = set(concern.events.values_list("kind", flat=True))
        fed_back = Message.objects.filter(concern=concern, kind=MessageKind.FEEDBACK).exists()
        row[0] += 1
        row[1] += "acknowledge" in kinds
        row[2] += "escalate" in kinds
        row[3] += concern.state == "closed"
        row[4] += concern.state == "closed" and not fed_back
    return {k: tuple(v) for k, v in truth.items()}  # type: ignore[misc]


@pytest.mark.django_db
def test_random_months_of_work_match_the_truth_and_a_rebuild(demo: None, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(20260105)
    units = ["RNX07", "RNXMAT", "RCXDNE", "RCXMHC"]
    overseers = [user(name) for name in ("governor", "commissioner", "guardian", "guardian-community")]
    concerns: list[int] = []
    for day in range(0, 200, 2):
        moment = START + timedelta(days=day, hours=rng.randrange(0, 9))
        if day < 120:
            for _ in range(rng.choice([0, 1, 1, 2])):
                concerns.append(
                    raise_concern(
                        moment,
                        unit=rng.choice(units),
                        raiser_kind=rng.choice(["staff", "staff", "patient"]),
                        themes=[rng.choice(["bullying", "patient_safety", "other"])],
                        urgent=rng.random() < 0.1,
                    ).pk
                )
        at(moment, services.clocks_fire_due)
        for concern_id in rng.sample(concerns, k=min(len(concerns), 4)):
            concern = Concern.objects.select_related("holder").get(pk=concern_id)
            guardian = _guardian_for(concern)
            choice = rng.random()
            try:
                if choice < 0.05:
                    at(moment, services.concern_withdraw, concern_id=concern_id)
                elif guardian is None:
                    continue
                elif choice < 0.35:
                    at(moment, services.concern_acknowledge, concern_id=concern_id, user=guardian)
                elif choice < 0.5:
                    at(
                        moment,
                        services.concern_give_feedback,
                        concern_id=concern_id,
                        user=guardian,
                        feedback="f",
                    )
                elif choice < 0.6:
                    at(moment, services.concern_close, concern_id=concern_id, user=guardian, reason="r")
                elif choice < 0.7:
                    at(
                        moment,
                        services.concern_message_to_raiser,
                        concern_id=concern_id,
                        user=guardian,
                        body="m",
                    )
                elif choice < 0.75:
                    at(
                        moment,
                        services.concern_escalate_by_guardian,
                        concern_id=concern_id,
                        user=guardian,
                        reason="c",
                    )
                elif choice < 0.8:
                    at(moment, services.concern_reopen, concern_id=concern_id, user=guardian)
                elif choice < 0.85:
                    at(moment, services.concern_start_review, concern_id=concern_id, user=guardian)
            except (lifecycle.IllegalTransition, PermissionDenied):
                pass  # a refused move writes nothing, and so records nothing
        open_alerts = list(Alert.objects.filter(resolved_at__isnull=True).values_list("pk", flat=True))
        for alert_id in rng.sample(open_alerts, k=min(len(open_alerts), 1)):
            for overseer in overseers:
                try:
                    at(moment, alert_resolve, alert_id=alert_id, user=overseer, reason="Seen to")
                    break
                except PermissionDenied:
                    continue
        if day % 20 == 0:
            figures_rollup()
    figures_rollup()

    assert len(concerns) > 40
    escalated = (
        Concern.objects.filter(state="escalated").values_list("unit__code", "holder__code").annotate(n=Count("pk"))
    )
    assert {(u, h): n for u, h, n in escalated} == {k: v[0] for k, v in tallies().items() if v[0]}
    assert _overdue_truth() == {k: v[1] for k, v in tallies().items() if v[1]}
    assert alert_truth() == {k: v[2] for k, v in tallies().items() if v[2]}
    assert sum(v[0] for v in tallies().values()) > 0 and sum(v[1] for v in tallies().values()) > 0

    figures = {
        (f.organisation.code, f.quarter): (f.received, f.acknowledged, f.escalated, f.closed, f.closed_without_feedback)
        for f in OrganisationQuarterFigures.objects.select_related("organisation")
    }
    assert figures == _public_truth()
    for f in OrganisationQuarterFigures.objects.all():
        assert f.ack_in_time <= f.ack_decided <= f.received
        assert f.feedback_in_time <= f.feedback_decided <= f.received
        assert f.acknowledged == sum(f.ack_days)
        assert f.median_days_to_acknowledge == histogram_median(f.ack_days)

    # Wide scopes are matched in Python, narrow ones by the database: both say the same.
    by_database = {name: selectors.oversight_dashboard(user=user(name)) for name in ("governor", "commissioner")}
    monkeypatch.setattr(selectors, "SQL_SCOPE_MAX", 0)
    for name, dashboard in by_database.items():
        assert selectors.oversight_dashboard(user=user(name)).rows == dashboard.rows, name
        assert dashboard.rows

    before = snapshot()
    figures_rebuild()
    assert snapshot() == before


# -- pages -----------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_public_pages_need_no_sign_in_and_show_no_one(demo: None) -> None:
    guardian = user("guardian")
    for i in range(6):
        concern = raise_concern(START + timedelta(hours=i))
        at(START + timedelta(days=1), services.concern_acknowledge, concern_id=concern.pk, user=guardian)
    raise_concern(START, unit="RCXDNE")
    figures_rollup()
    public = Client()
    page = public.get("/figures/")
    assert page.status_code == 200
    html = page.content.decode()
    assert '<table class="nhsuk-table-responsive" role="table">' in html
    assert '<caption class="nhsuk-table__caption">Concerns received January to March 2026' in html
    assert html.count('scope="col"') == 7
    assert "fewer than 5" in html  # Northshire Community Health: one concern
    assert 'href="/figures/RNX/"' in html
    for secret in [
        "NARRATIVE-CANARY",
        "Raiser Canary",
        "guardian",
        *Concern.objects.values_list("reference", flat=True),
    ]:
        assert secret not in html
    one = public.get("/figures/RNX/")
    assert one.status_code == 200
    assert "Northshire Hospitals NHS Foundation Trust" in one.content.decode()
    assert public.get("/figures/NOPE/").status_code == 404
    assert public.get("/figures/?quarter=2026-02-01").status_code == 404
    assert "There are no figures for April to June 2026" in public.get("/figures/?quarter=2026-04-01").content.decode()


@pytest.mark.django_db
def test_the_dashboard_page_is_for_signed_in_overseers(demo: None) -> None:
    for i in range(2):
        raise_concern(START + timedelta(hours=i))
    at(START + timedelta(days=8), services.clocks_fire_due)
    figures_rollup()
    assert Client().get("/oversight/").status_code == 302
    governor = Client()
    sign_in(governor, "governor")
    page = governor.get("/oversight/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-testid="open-escalations">2<' in html
    assert 'id="dashboard-caption">By organisation</caption>' in html
    assert "Northshire Hospitals NHS Foundation Trust" in html
    for secret in ["NARRATIVE-CANARY", "Raiser Canary", *Concern.objects.values_list("reference", flat=True)]:
        assert secret not in html
