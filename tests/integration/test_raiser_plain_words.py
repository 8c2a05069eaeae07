"""The raiser's follow-up page in plain words (issue 14 item 3): the deadline they are waiting on
("The guardian should reply by Friday 12 December ...") and what it means, and every state and
Event on their timeline under a human label, never a stored value."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.template.loader import render_to_string
from django.test import Client, RequestFactory

from backend.concerns import selectors, services
from backend.concerns.models import Concern, SpeakUpAgain
from backend.concerns.selectors import RaiserView, TimelineEntry
from backend.organisations.models import Organisation
from tests.support.factories import RaisedConcernFactory
from workflows.engine.lifecycle import State
from workflows.engine.vocabulary import STATE_LABELS, EventKind, raiser_event_label

pytestmark = pytest.mark.django_db

MONDAY = datetime(2025, 12, 1, 10, 0, tzinfo=UTC)
TUESDAY = datetime(2025, 12, 9, 10, 0, tzinfo=UTC)


def raise_concern(*, raiser_kind: str = "staff", at: datetime = MONDAY) -> tuple[Concern, str]:
    raised = RaisedConcernFactory.create(
        unit=Organisation.objects.get(code="RNX07"),
        raiser_kind=raiser_kind,
        identity_mode="confidential",
        raiser_name="Pat Example",
        now=at,
    )
    return raised.concern, raised.receipt


def words(concern: Concern, now: datetime) -> str:
    concern.refresh_from_db()
    clock = selectors.raiser_clock(concern=concern, now=now)
    assert clock is not None
    return clock.words


def guardian() -> object:
    return get_user_model().objects.get(username="guardian")


def test_a_staff_concern_waits_seven_days_for_a_reply_then_three_months_for_feedback(demo: None) -> None:
    concern, _ = raise_concern()
    assert words(concern, MONDAY) == "The guardian should reply by Monday 8 December to say they have your concern."
    late = MONDAY + timedelta(days=8)
    assert words(concern, late) == "The guardian should have replied by Monday 8 December to say they had your concern."
    services.concern_acknowledge(concern_id=concern.pk, user=guardian(), now=TUESDAY)  # type: ignore[arg-type]
    assert words(concern, TUESDAY) == (
        "The guardian should tell you by Monday 9 March 2026 what they found and what is being done."
    )


def test_a_patient_waits_three_working_days_and_a_pause_is_said_plainly(demo: None) -> None:
    concern, _ = raise_concern(raiser_kind="patient", at=TUESDAY)
    assert words(concern, TUESDAY).startswith("The guardian should reply by Friday 12 December")
    services.concern_clocks_pause(concern_id=concern.pk, user=guardian(), reason="waiting", now=TUESDAY)  # type: ignore[arg-type]
    clock = selectors.raiser_clock(concern=concern, now=TUESDAY + timedelta(days=9))
    assert clock is not None and clock.paused and not clock.passed
    assert clock.meaning.startswith("The deadline is paused")


def test_nothing_is_owed_once_feedback_is_given(demo: None) -> None:
    concern, _ = raise_concern()
    services.concern_acknowledge(concern_id=concern.pk, user=guardian(), now=TUESDAY)  # type: ignore[arg-type]
    services.concern_give_feedback(concern_id=concern.pk, user=guardian(), feedback="Done", now=TUESDAY)  # type: ignore[arg-type]
    concern.refresh_from_db()
    assert selectors.raiser_clock(concern=concern, now=TUESDAY) is None


def test_the_follow_up_page_says_the_deadline_and_the_history_in_words(demo: None) -> None:
    concern, receipt = raise_concern(raiser_kind="patient", at=TUESDAY)
    services.concern_acknowledge(concern_id=concern.pk, user=guardian(), now=TUESDAY + timedelta(hours=1))  # type: ignore[arg-type]
    with time_machine.travel(TUESDAY + timedelta(hours=2), tick=False):
        raiser = Client()
        raiser.post("/follow-up/", {"receipt": receipt})
        html = raiser.get("/follow-up/concern/").content.decode()
    assert "The guardian should tell you by Monday 9 March 2026 what they found and what is being done." in html
    assert "If they do not, you can send your concern to the next organisation" in html
    timeline = re.search(r'data-testid="timeline">(.*?)</ol>', html, re.S)
    assert timeline is not None
    assert "9 December 2025: You raised your concern" in timeline.group(1)
    assert "Acknowledged: they have your concern (status: acknowledged)" in timeline.group(1)


RAW_STATES = [s.value for s in State]
RAW_KINDS = [k.value for k in EventKind]


@pytest.mark.parametrize("state", RAW_STATES)
def test_every_state_and_event_renders_under_a_human_label(state: str) -> None:
    """The page rendered with every kind of Event on its timeline, each leaving the concern in
    ``state``: no stored value shows, each line reads as its label."""
    at = datetime(2025, 12, 12, 9, tzinfo=UTC)
    view = RaiserView(
        reference="CN-TEST-0001",
        state=state,
        state_label=STATE_LABELS[state],
        route_level=0,
        received_on=date(2025, 12, 1),
        would_speak_up_again="",
        may_escalate=False,
        may_escalate_on_feedback=False,
        may_reopen=False,
        status_shared=False,
        clock=None,
        timeline=[TimelineEntry(kind=kind, state=state, at=at) for kind in RAW_KINDS],
        messages=[],
    )
    request = RequestFactory().get("/follow-up/concern/")
    context = {"view": view, "errors": {}, "data": {}, "answers": SpeakUpAgain.choices}
    html = render_to_string("frontend/status.html", context, request=request)
    for raw in (*RAW_STATES, *RAW_KINDS):
        if "_" in raw:
            assert raw not in html, f"{raw} shows as a stored value"
    assert f'data-testid="status">{STATE_LABELS[state]}<' in html
    timeline = re.search(r'data-testid="timeline">(.*?)</ol>', html, re.S)
    assert timeline is not None
    lines = re.findall(r"<li>(.*?)</li>", timeline.group(1))
    assert len(lines) == len(RAW_KINDS)
    for kind, line in zip(RAW_KINDS, lines, strict=True):
        label = raiser_event_label(kind)
        assert label.lower() != kind and "_" not in label
        assert line == f"12 December 2025: {label} (status: {STATE_LABELS[state].lower()})".replace("'", "&#x27;")
