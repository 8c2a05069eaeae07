"""Reminders before a breach (issue 16, item 2), with time travel: each running clock reminds the
guardian and the handler once, at its policy's lead time before the deadline (defaults: 2 working days
before acknowledge, 15 days before feedback, 5 working days before the inactivity alert), through the
outbox; never for a clock that was met, while it is paused, or once it has fired; the inbox says "due
soon" in between."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from rest_framework.authtoken.models import Token

from backend.concerns import services
from backend.concerns.models import Clock, ClockStatus, Concern
from backend.organisations.models import Organisation
from notifications.models import Delivery
from tests.support.sign_in import staff_client

pytestmark = pytest.mark.django_db

START = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)  # a Monday; Europe/London is on UTC in January
STEP = timedelta(hours=6)  # the sweep's moments: 09:30, 15:30, 21:30 and 03:30 UTC each day


def _user(username: str) -> User:
    return get_user_model().objects.get(username=username)


def _raise(*, at: datetime = START) -> Concern:
    with time_machine.travel(at, tick=False):
        return services.concern_raise(
            draft=services.ConcernDraft(
                unit=Organisation.objects.get(code="RNX07"),
                raiser_kind="staff",
                identity_mode="named",
                raiser_name="Raiser Canary",
                themes=["patient_safety"],
                what_happened="NARRATIVE-CANARY on ward 7",
            ),
            now=at,
        ).concern


def _sweep(*, until: datetime, start: datetime = START) -> None:
    at = start
    while at <= until:
        with time_machine.travel(at, tick=False):
            services.clocks_fire_due(now=at)
        at += STEP


def _clock(concern: Concern, kind: str, level: int = 0) -> Clock:
    """The newest clock of the kind at the level (acknowledging restarts the feedback clock)."""
    return Clock.objects.filter(concern=concern, kind=kind, route_level=level).order_by("-pk").first()  # type: ignore[return-value]


def _reminders(clock: Clock) -> list[Delivery]:
    return list(Delivery.objects.filter(idempotency_key__startswith=f"due-soon:{clock.pk}:").order_by("pk"))


def _in_app_reminders(clock: Clock) -> dict[str, datetime]:
    """Whom the clock's reminder reached in Candour itself, and when it was written."""
    users = get_user_model().objects.in_bulk([int(d.recipient) for d in _reminders(clock) if d.channel == "in_app"])
    return {users[int(d.recipient)].username: d.created_at for d in _reminders(clock) if d.channel == "in_app"}


def test_each_clock_is_reminded_once_at_its_lead_time_and_never_after_it_fires(demo: None) -> None:
    never_acknowledged = _raise()
    worked = _raise()
    guardian = _user("guardian")
    services.concern_assign(concern_id=worked.pk, user=guardian, handler=_user("handler"), now=START)
    acknowledged_at = START + timedelta(days=1)  # Tuesday 6 January, 09:30
    services.concern_acknowledge(concern_id=worked.pk, user=_user("handler"), now=acknowledged_at)

    _sweep(until=datetime(2026, 4, 10, tzinfo=UTC))

    # Acknowledge: 7 days (due Monday 12 January), reminded 2 working days before, on Thursday 8th.
    ack = _clock(never_acknowledged, "acknowledge")
    assert ack.due_at == datetime(2026, 1, 12, 9, 30, tzinfo=UTC)
    assert ack.remind_at == datetime(2026, 1, 8, 9, 30, tzinfo=UTC)
    assert ack.status == ClockStatus.FIRED and ack.reminded_at == ack.remind_at
    assert _in_app_reminders(ack) == {"guardian": ack.remind_at}
    # Inactivity: 20 working days from the acknowledgement (Tuesday 3 February), reminded 5 working
    # days before, on Tuesday 27 January: the guardian and the handler it was placed with.
    quiet = _clock(worked, "inactivity")
    assert quiet.due_at == datetime(2026, 2, 3, 9, 30, tzinfo=UTC)
    assert quiet.remind_at == datetime(2026, 1, 27, 9, 30, tzinfo=UTC)
    assert quiet.status == ClockStatus.FIRED
    assert _in_app_reminders(quiet) == {"guardian": quiet.remind_at, "handler": quiet.remind_at}
    # Feedback: 3 months from the acknowledgement (6 April, 09:30 in London, in summer time), reminded
    # 15 days before at the same London time (22 March, before the clocks change).
    feedback = _clock(worked, "feedback")
    assert feedback.due_at == datetime(2026, 4, 6, 8, 30, tzinfo=UTC)
    assert feedback.remind_at == datetime(2026, 3, 22, 9, 30, tzinfo=UTC)
    assert feedback.status == ClockStatus.FIRED
    assert _in_app_reminders(feedback) == {"guardian": feedback.remind_at, "handler": feedback.remind_at}
    # The feedback clock that ran from receipt until the acknowledgement replaced it: never reminded.
    [replaced] = Clock.objects.filter(concern=worked, kind="feedback", status=ClockStatus.STOPPED)
    assert (replaced.reminded_at, _reminders(replaced)) == (None, [])
    # Once each, by each channel the person chose, and nothing more however many
    # sweeps came after; notices carry the reference and a link, never the narrative or the raiser.
    for clock in (ack, quiet, feedback):
        assert all(d.created_at == clock.remind_at for d in _reminders(clock))
        assert len({(d.recipient, d.channel) for d in _reminders(clock)}) == len(_reminders(clock))
    for subject, body in Delivery.objects.filter(idempotency_key__startswith="due-soon:").values_list(
        "subject", "body"
    ):
        assert "due soon" in subject
        assert "NARRATIVE-CANARY" not in subject + body and "Raiser Canary" not in subject + body


def test_a_clock_met_before_its_reminder_is_never_reminded(demo: None) -> None:
    concern = _raise()
    services.concern_acknowledge(concern_id=concern.pk, user=_user("guardian"), now=START + timedelta(days=2))
    _sweep(until=START + timedelta(days=10))
    ack = _clock(concern, "acknowledge")
    assert ack.status == ClockStatus.STOPPED
    assert (ack.reminded_at, _reminders(ack)) == (None, [])


def test_a_paused_clock_is_not_reminded_and_its_reminder_moves_with_its_deadline(demo: None) -> None:
    concern = _raise()
    guardian = _user("guardian")
    services.concern_clocks_pause(
        concern_id=concern.pk, user=guardian, reason="Waiting on the raiser", now=START + timedelta(days=2)
    )
    _sweep(until=START + timedelta(days=4) - STEP)  # the reminder time (Thursday 8th) passes while paused
    ack = _clock(concern, "acknowledge")
    assert (ack.reminded_at, _reminders(ack)) == (None, [])
    services.concern_clocks_resume(concern_id=concern.pk, user=guardian, now=START + timedelta(days=4))
    ack.refresh_from_db()
    # Paused two days (a calendar-day clock): deadline and reminder both two days later.
    assert ack.due_at == datetime(2026, 1, 14, 9, 30, tzinfo=UTC)
    assert ack.remind_at == datetime(2026, 1, 10, 9, 30, tzinfo=UTC)
    _sweep(start=START + timedelta(days=4), until=START + timedelta(days=12))
    assert _in_app_reminders(ack) == {"guardian": ack.remind_at}


def test_no_reminder_once_the_deadline_has_passed(demo: None) -> None:
    concern = _raise()
    # The sweep was down from before the reminder time until after the deadline: the clock fires
    # (late), and nobody is told it is "due soon" after the fact.
    _sweep(start=datetime(2026, 1, 12, 15, 30, tzinfo=UTC), until=datetime(2026, 1, 13, tzinfo=UTC))
    ack = _clock(concern, "acknowledge")
    assert ack.status == ClockStatus.FIRED
    assert (ack.reminded_at, _reminders(ack)) == (None, [])


def test_activity_gives_the_inactivity_clock_a_new_deadline_and_a_new_reminder(demo: None) -> None:
    concern = _raise()
    guardian = _user("guardian")
    services.concern_acknowledge(concern_id=concern.pk, user=guardian, now=START)
    _sweep(until=datetime(2026, 1, 28, tzinfo=UTC))  # reminded on Monday 26 January
    quiet = _clock(concern, "inactivity")
    assert [d.created_at for d in _reminders(quiet) if d.channel == "in_app"] == [quiet.remind_at]
    services.concern_start_review(concern_id=concern.pk, user=guardian, now=datetime(2026, 1, 28, 9, 30, tzinfo=UTC))
    quiet.refresh_from_db()
    assert (quiet.reminded_at, quiet.due_at) == (None, datetime(2026, 2, 25, 9, 30, tzinfo=UTC))
    _sweep(start=datetime(2026, 1, 28, 9, 30, tzinfo=UTC), until=datetime(2026, 2, 20, tzinfo=UTC))
    assert [d.created_at for d in _reminders(quiet) if d.channel == "in_app"] == [
        datetime(2026, 1, 26, 9, 30, tzinfo=UTC),
        datetime(2026, 2, 18, 9, 30, tzinfo=UTC),
    ]


def test_the_inbox_says_due_soon_between_the_reminder_and_the_deadline(demo: None) -> None:
    concern = _raise()
    token = Token.objects.get_or_create(user=_user("guardian"))[0].key
    ack = _clock(concern, "acknowledge")

    def seen(at: datetime) -> tuple[bool, bool, bool]:
        with time_machine.travel(at, tick=False):
            page = staff_client("guardian").get("/inbox/?due=soon").content.decode()
            api = staff_client("guardian").get("/api/v1/concerns/?due_soon=true", HTTP_AUTHORIZATION=f"Token {token}")
            listed = staff_client("guardian").get("/api/v1/concerns/", HTTP_AUTHORIZATION=f"Token {token}")
        [row] = [c for c in json.loads(listed.content)["results"] if c["reference"] == concern.reference]
        refs = [c["reference"] for c in json.loads(api.content)["results"]]
        return concern.reference in page, concern.reference in refs, row["due_soon"]

    assert seen(ack.remind_at - timedelta(minutes=1)) == (False, False, False)
    assert seen(ack.remind_at) == (True, True, True)
    assert seen(ack.due_at - timedelta(minutes=1)) == (True, True, True)
    with time_machine.travel(ack.due_at, tick=False):
        services.clocks_fire_due(now=ack.due_at)
    assert seen(ack.due_at + timedelta(minutes=1))[:2] == (False, False)
    page = staff_client("guardian").get("/inbox/").content.decode()
    assert 'name="due_soon"' in page and "Due soon (0)" in page  # the inbox filter, counted
