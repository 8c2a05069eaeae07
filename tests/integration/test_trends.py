"""An organisation's trends: shares and reports month by month, from the weekly counts, summed over
its units, as Making Data Count charts; for those who watch it, and nobody else."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from backend.organisations.models import Organisation
from backend.oversight.models import WeeklyCount
from backend.oversight.trends import organisation_trends
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
    # Late acknowledgements, and the two monthly reports (none: still a month of data); the two
    # shares nobody has answered for yet say so instead.
    assert html.count('<div class="candour-chart">') == 3
    assert html.count("Not enough months to chart yet.") == 2
    assert "Month</th>" in html and "w_ack_late" not in html
    assert staff_client("guardian-community").get("/oversight/trends/RNX/").status_code == 404
    assert Client().get("/oversight/trends/RNX/").status_code == 302  # sign in first
