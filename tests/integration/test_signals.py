"""Early-warning signals: opened once per series, told once, reviewed and closed with a reason by
those who watch the unit (audited), and nothing to anyone else."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from backend.organisations.models import Organisation
from backend.oversight.models import Signal, SignalChange, WeeklyCount
from backend.oversight.signals import SignalFound, signals_open
from notifications.models import Delivery
from tests.support.sign_in import api_client, sign_in

pytestmark = pytest.mark.django_db


def _found(code: str = "RNX07", kind: str = "rise") -> SignalFound:
    return SignalFound(
        unit_id=Organisation.objects.get(code=code).pk,
        measure="w_received",
        theme="",
        kind=kind,
        week=date(2026, 3, 2),
        baseline=1.2,
        recent=3.4,
        statistic=7.1,
        threshold=4.6,
    )


def test_a_series_opens_one_signal_and_its_watchers_are_told_once(demo: None) -> None:
    first = signals_open(found=[_found()], now=timezone.now())
    assert len(first) == 1
    assert signals_open(found=[_found(), _found()], now=timezone.now()) == []  # already open
    assert Signal.objects.count() == 1
    told = Delivery.objects.filter(idempotency_key__startswith=f"signal:{first[0]}:")
    recipients = {d.recipient for d in told.filter(channel="in_app")}
    assert len(recipients) >= 2, "the ward's trust guardian and its governor"
    assert all("early warning" in d.subject.lower() and "RNX07" not in d.body for d in told)
    # Another kind on the same series is its own signal.
    assert len(signals_open(found=[_found(kind="quiet")], now=timezone.now())) == 1


def test_review_and_close_are_audited_and_a_closed_series_may_open_again(demo: None) -> None:
    [signal_id] = signals_open(found=[_found()], now=timezone.now())
    guardian = api_client("guardian")
    assert guardian.post(f"/api/v1/signals/{signal_id}/review/").json()["state"] == "under_review"
    refused = guardian.post(f"/api/v1/signals/{signal_id}/close/", {"reason": ""}, content_type="application/json")
    assert refused.status_code == 400 and "reason" in refused.json()
    closed = guardian.post(
        f"/api/v1/signals/{signal_id}/close/",
        {"reason": "Two new starters on nights: SIGNAL-REASON-CANARY"},
        content_type="application/json",
    )
    assert closed.status_code == 200 and closed.json()["state_label"] == "Closed"
    again = guardian.post(f"/api/v1/signals/{signal_id}/review/")
    assert again.status_code == 409
    changes = list(SignalChange.objects.filter(signal_id=signal_id).values_list("from_state", "to_state"))
    assert changes == [("", "new"), ("new", "under_review"), ("under_review", "closed")]
    with connection.cursor() as cursor:
        cursor.execute("SELECT closed_reason FROM oversight_signal WHERE id = %s", [signal_id])
        assert "CANARY" not in cursor.fetchone()[0]
    assert len(signals_open(found=[_found()], now=timezone.now())) == 1  # crossing again: a new one


def test_only_those_who_watch_the_unit_see_or_move_its_signal(demo: None) -> None:
    [signal_id] = signals_open(found=[_found()], now=timezone.now())
    listed = api_client("governor").get("/api/v1/signals/").json()["results"]
    assert [(x["id"], x["unit"], x["kind_label"], x["measure_label"]) for x in listed] == [
        (signal_id, "RNX07", "More than usual", "Concerns received")
    ]
    for outsider in ("guardian-community", "regulator", "patient-group", "handler"):
        client = api_client(outsider)
        assert client.get("/api/v1/signals/").json()["results"] == []
        assert client.post(f"/api/v1/signals/{signal_id}/review/").status_code == 404
    assert Signal.objects.get(pk=signal_id).state == "new"


def test_a_signal_page_draws_the_weekly_chart_and_the_detector_with_their_tables(demo: None) -> None:
    ward = Organisation.objects.get(code="RNX07")
    week = date(2026, 3, 2)
    for back in range(60):
        value = 9 if back < 4 else 2 + back % 3
        WeeklyCount.objects.create(unit=ward, measure="w_received", week=week - timedelta(weeks=back), value=value)
    [signal_id] = signals_open(found=[_found()], now=timezone.now())
    client = Client()
    sign_in(client, "governor")
    page = client.get(f"/oversight/signals/{signal_id}/")
    assert page.status_code == 200
    html = page.content.decode()
    # The weekly chart, the detector, and the timeline (its months, its own warning marked).
    assert html.count('<div class="candour-chart">') == 3 and html.count("How to read this chart") == 3
    assert "Concerns received a week on Ward 7, Acute Medicine" in html
    assert "1: Ward 7, Acute Medicine: more than usual (concerns received)" in html
    assert html.count('aria-hidden="true">Month </span>') == 12, "the timeline's year, April 2025 to March 2026"
    assert "Month </span>April 2025" in html and "Month </span>March 2026" in html
    assert "Rise detector for concerns received on Ward 7" in html
    assert "w_received" not in html  # words, never the stored value
    # Outside the unit's watchers: nothing, not even that it exists.
    other = Client()
    sign_in(other, "guardian-community")
    assert other.get(f"/oversight/signals/{signal_id}/").status_code == 404
