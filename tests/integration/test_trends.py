"""An organisation's trends: shares and reports month by month, from the weekly counts, summed over
its units, as Making Data Count charts; for those who watch it, and nobody else."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from backend.organisations.models import Organisation
from backend.oversight.models import Signal, WeeklyCount
from backend.oversight.signals import signals_detect
from backend.oversight.trends import organisation_trends
from notifications.models import Delivery
from tests.support.sign_in import staff_client

pytestmark = pytest.mark.django_db

TODAY = date(2026, 12, 2)


def _weekly(code: str, measure: str, week: date, value: int) -> None:
    WeeklyCount.objects.create(unit=Organisation.objects.get(code=code), measure=measure, week=week, value=value)


def test_shares_are_summed_over_the_trusts_units_by_month(demo: None) -> None:
    # November 2026: 4 answered on Ward 7 and 6 in Maternity, 1 and 2 of them "no": 30%.
    _weekly("RNX07", "w_speak_answered", date(2026, 11, 2), 4)
    _weekly("RNX07", "w_no_speak_again", date(2026, 11, 2), 1)
    _weekly("RNXMAT", "w_speak_answered", date(2026, 11, 16), 6)
    _weekly("RNXMAT", "w_no_speak_again", date(2026, 11, 16), 2)
    # October: 5 answered, none "no"; and another trust's counts, which are not this one's.
    _weekly("RNX07", "w_speak_answered", date(2026, 10, 5), 5)
    _weekly("RCXDNE", "w_no_speak_again", date(2026, 10, 5), 9)
    _weekly("RNX07", "w_detriment", date(2026, 10, 12), 2)
    governor = get_user_model().objects.get(username="governor")
    found = organisation_trends(user=governor, code="RNX", today=TODAY)
    by_title = {t.definition.title: t for t in found.trends}
    speak = by_title["Raisers who would not speak up again"]
    assert speak.months == [date(2026, 10, 1), date(2026, 11, 1)] and speak.values == [0.0, 30.0]
    assert speak.xmr is not None and speak.xmr.mean == 15.0
    assert by_title["Detriment reported"].values == [2.0, 0.0]
    assert by_title["Acknowledgements late"].values == [] and by_title["Acknowledgements late"].xmr is None


def test_the_trends_page_for_a_watcher_and_nothing_for_anyone_else(demo: None) -> None:
    for back in range(8):
        week = date(2026, 11, 2) - timedelta(weeks=4 * back)
        _weekly("RNX07", "w_ack_decided", week, 10)
        _weekly("RNX07", "w_ack_late", week, back % 3)
    page = staff_client("governor").get("/oversight/trends/RNX/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Acknowledgements late, Northshire Hospitals NHS Foundation Trust" in html
    # The timeline; late acknowledgements, and the two monthly reports (none: still a month of
    # data); the two shares nobody has answered for yet say so instead.
    assert html.count('<div class="candour-chart">') == 4
    assert "Concerns, early warnings and other indicators, Northshire Hospitals NHS Foundation Trust" in html
    assert html.count("Not enough months to chart yet.") == 2
    assert "Month</th>" in html and "w_ack_late" not in html
    assert staff_client("guardian-community").get("/oversight/trends/RNX/").status_code == 404
    assert Client().get("/oversight/trends/RNX/").status_code == 302  # sign in first


def _month_of_answers(month: date, *, answered: int, would_not: int) -> None:
    monday = month + timedelta(days=(7 - month.weekday()) % 7)  # the month's first Monday
    _weekly("RNX07", "w_speak_answered", monday, answered)
    _weekly("RNX07", "w_no_speak_again", monday, would_not)


def _months_back(count: int) -> list[date]:
    months, month = [], date(2026, 11, 1)
    for _ in range(count):
        months.append(month)
        month = (month - timedelta(days=1)).replace(day=1)
    return months[::-1]


def test_a_trusts_trend_that_shifts_opens_one_worse_than_usual_signal(demo: None) -> None:
    # Two years of about one in ten who would not speak up again at Northshire, then November: half.
    months = _months_back(24)
    for i, month in enumerate(months[:-1]):
        _month_of_answers(month, answered=20, would_not=(1, 2, 3)[i % 3])
    _month_of_answers(months[-1], answered=20, would_not=10)
    # The other trust's steady figures open nothing.
    for month in months:
        monday = month + timedelta(days=(7 - month.weekday()) % 7)
        _weekly("RCXDNE", "w_speak_answered", monday, 20)
        _weekly("RCXDNE", "w_no_speak_again", monday, 2)
    now = timezone.make_aware(datetime(2026, 12, 2, 2, 0))
    first = signals_detect(now=now)
    shifts = Signal.objects.filter(kind="shift")
    assert len(first.opened) == 1 and shifts.count() == 1
    signal = shifts.get()
    assert (signal.unit.code, signal.measure, signal.week) == ("RNX", "w_no_speak_again", date(2026, 11, 1))
    assert signal.recent == 50.0 and signal.recent > signal.threshold > signal.baseline
    told = Delivery.objects.filter(idempotency_key__startswith=f"signal:{signal.pk}:")
    assert told.exists() and all("worse than usual: raisers who would not speak up again" in d.body for d in told)
    # The next night sees the same month: nothing new, nobody told twice.
    told_before = Delivery.objects.filter(idempotency_key__startswith="signal:").count()
    assert signals_detect(now=now + timedelta(days=1)).opened == []
    assert Delivery.objects.filter(idempotency_key__startswith="signal:").count() == told_before
    assert Signal.objects.filter(kind="shift").count() == 1
    # Its page draws the trust's month-by-month chart that opened it, and says why in words.
    page = staff_client("governor").get(f"/oversight/signals/{signal.pk}/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "Raisers who would not speak up again, Northshire Hospitals NHS Foundation Trust" in html
    assert "was above the upper process limit" in html
    assert "50% of those who answered in November 2026, against an average of" in html
    assert "The detector that opened it" not in html and "w_no_speak_again" not in html
