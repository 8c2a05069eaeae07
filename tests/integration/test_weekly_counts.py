"""The early-warning series: weekly counts per unit (every theme, and each theme), and the other
measures it watches, kept by the figures fold from the Events alone, and the same after a rebuild."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model

from backend.concerns import services
from backend.concerns.models import Concern, MessageKind
from backend.organisations.models import Organisation
from backend.oversight.figures import figures_rebuild, figures_rollup, week_of
from backend.oversight.models import WeeklyCount

pytestmark = pytest.mark.django_db

MONDAY = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)  # a Monday, in winter: local time is UTC


def _raise(at: datetime, themes: list[str], unit: str = "RNX07") -> Concern:
    draft = services.ConcernDraft(
        unit=Organisation.objects.get(code=unit),
        raiser_kind="staff",
        identity_mode="named",
        raiser_name="Weekly Canary",
        themes=themes,
        what_happened="Counted by week.",
    )
    return services.concern_raise(draft=draft, now=at).concern


def _counts() -> dict[tuple[str, str, str, date], int]:
    return {
        (w.unit.code, w.measure, w.theme, w.week): w.value
        for w in WeeklyCount.objects.select_related("unit").exclude(value=0)
    }


def test_concerns_are_counted_by_unit_week_and_theme_and_a_rebuild_agrees(demo: None) -> None:
    guardian = get_user_model().objects.get(username="guardian")
    first = _raise(MONDAY, ["patient_safety", "bullying"])
    _raise(MONDAY + timedelta(days=2), ["patient_safety"])
    later = _raise(MONDAY + timedelta(days=8), ["other"])
    _raise(MONDAY + timedelta(days=8), ["behaviour"], unit="RNXMAT")
    # Acknowledged a day late: the acknowledge deadline is two working days.
    services.concern_acknowledge(concern_id=first.pk, user=guardian, now=MONDAY + timedelta(days=9))
    services.concern_message_from_raiser(
        concern_id=first.pk,
        body="I was moved off the ward.",
        kind=MessageKind.DETRIMENT,
        now=MONDAY + timedelta(days=9),
    )
    services.concern_acknowledge(concern_id=later.pk, user=guardian, now=MONDAY + timedelta(days=8, hours=1))
    services.concern_close(concern_id=later.pk, user=guardian, reason="Resolved.", now=MONDAY + timedelta(days=9))
    services.concern_answer_speak_up_again(concern_id=later.pk, answer="no", now=MONDAY + timedelta(days=9))
    figures_rollup()

    week1, week2 = week_of(MONDAY), week_of(MONDAY + timedelta(days=7))
    assert week1 == date(2026, 3, 2) and week2 == date(2026, 3, 9)
    expected = {
        ("RNX07", "w_received", "", week1): 2,
        ("RNX07", "w_received", "patient_safety", week1): 2,
        ("RNX07", "w_received", "bullying", week1): 1,
        ("RNX07", "w_received", "", week2): 1,
        ("RNX07", "w_received", "other", week2): 1,
        ("RNXMAT", "w_received", "", week2): 1,
        ("RNXMAT", "w_received", "behaviour", week2): 1,
        ("RNX07", "w_ack_decided", "", week2): 2,
        ("RNX07", "w_ack_late", "", week2): 1,
        ("RNX07", "w_detriment", "", week2): 1,
        ("RNX07", "w_closed", "", week2): 1,
        ("RNX07", "w_closed_no_fb", "", week2): 1,
        ("RNX07", "w_speak_answered", "", week2): 1,
        ("RNX07", "w_no_speak_again", "", week2): 1,
    }
    got = _counts()
    # The second-week breach of the other concern's acknowledge clock is decided by the sweep, not here.
    assert got == expected
    figures_rebuild()
    assert _counts() == expected
