"""Concerns run through months of time: each ends with the expected Events, Alerts and deliveries.

The services and the sweep take ``now``; time_machine moves the process clock too, so nothing that
reads the wall clock disagrees with the story.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User

from backend.concerns import selectors, services
from backend.concerns.models import Clock, ClockStatus, Concern, Event
from backend.organisations.models import Organisation, Role
from backend.oversight import services as oversight_services
from backend.oversight.models import Alert
from notifications.models import Delivery
from tests.support.factories import StaffFactory

pytestmark = pytest.mark.django_db

START = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)  # a Monday


def user(username: str) -> User:
    return get_user_model().objects.get(username=username)


def raise_concern(
    *, at: datetime, raiser_kind: str = "staff", themes: tuple[str, ...] = ("patient_safety",)
) -> Concern:
    with time_machine.travel(at, tick=False):
        concern = services.concern_raise(
            draft=services.ConcernDraft(
                unit=Organisation.objects.get(code="RNX07"),
                raiser_kind=raiser_kind,
                identity_mode="named",
                raiser_name="Raiser Canary",
                themes=list(themes),
                what_happened="NARRATIVE-CANARY on ward 7",
            ),
            now=at,
        ).concern
    # The beat's arrival sweep, half a minute later.
    arrival = at + timedelta(seconds=30)
    with time_machine.travel(arrival, tick=False):
        oversight_services.concerns_arrival_check(now=arrival)
    return concern


def sweep_daily(*, start: datetime, days: int) -> None:
    for day in range(days + 1):
        at = start + timedelta(days=day)
        with time_machine.travel(at, tick=False):
            oversight_services.concerns_arrival_check(now=at)
            services.clocks_fire_due(now=at)


def kinds(concern: Concern) -> list[str]:
    return list(Event.objects.filter(concern=concern).order_by("seq").values_list("kind", flat=True))


def alerts(concern: Concern) -> list[str]:
    return sorted(Alert.objects.filter(concern=concern).values_list("rule", flat=True))


def no_narrative_in_deliveries() -> None:
    for subject, body in Delivery.objects.values_list("subject", "body"):
        assert "NARRATIVE-CANARY" not in subject + body
        assert "Raiser Canary" not in subject + body


def test_acknowledged_in_time_runs_quietly_to_closure(demo: None) -> None:
    concern = raise_concern(at=START)
    guardian = user("guardian")
    services.concern_acknowledge(concern_id=concern.pk, user=guardian, now=START + timedelta(days=2))
    services.concern_start_review(concern_id=concern.pk, user=guardian, now=START + timedelta(days=5))
    sweep_daily(start=START, days=20)
    services.concern_give_feedback(
        concern_id=concern.pk, user=guardian, feedback="Staffing raised.", now=START + timedelta(days=21)
    )
    services.concern_close(concern_id=concern.pk, user=guardian, reason="answered", now=START + timedelta(days=22))
    sweep_daily(start=START + timedelta(days=21), days=200)

    assert kinds(concern) == ["raised", "acknowledge", "start_review", "give_feedback", "close"]
    assert alerts(concern) == []
    # The guardians were told the concern had arrived, and nothing else went out: no reminder, no alert.
    subjects = set(Delivery.objects.values_list("subject", flat=True))
    assert subjects == {f"Candour: new concern {concern.reference} for {concern.unit.name}"}
    assert Delivery.objects.filter(recipient=str(user("guardian").pk), channel="in_app").count() == 1
    assert not Clock.objects.filter(concern=concern, status=ClockStatus.PENDING).exists()
    assert not Clock.objects.filter(concern=concern, status=ClockStatus.FIRED).exists()


def test_never_acknowledged_climbs_the_whole_route_one_step_per_breach(demo: None) -> None:
    concern = raise_concern(at=START)
    sweep_daily(start=START, days=50)
    concern.refresh_from_db()

    steps = list(Event.objects.filter(concern=concern, kind="escalate").order_by("seq").values_list("data", flat=True))
    assert [(s["from"], s["to"]) for s in steps] == [("RNX07", "RNX"), ("RNX", "RNXB"), ("RNXB", "QNX"), ("QNX", "RGX")]
    assert all(s["reason"] == "acknowledge_breached" for s in steps)
    assert (concern.holder.code, concern.route_level, concern.state) == ("RGX", 4, "escalated")
    # One escalation per 7-day acknowledge breach (staff concern), the first on day 7.
    escalated_at = list(Event.objects.filter(concern=concern, kind="escalate").values_list("created_at", flat=True))
    assert [(t - START).days for t in escalated_at] == [7, 14, 21, 28]
    # Alerts: one per rule, never repeated, however many breaches.
    assert alerts(concern) == ["bounced", "unacknowledged"]
    # The regulator's guardians... the regulator has none in the demo; the ICB guardian was told.
    icb_guardian = user("icb-guardian")
    assert Delivery.objects.filter(channel="in_app", recipient=str(icb_guardian.pk)).exists()
    governor = user("governor")
    assert Delivery.objects.filter(channel="in_app", recipient=str(governor.pk), subject__contains="alert").count() == 2
    # The raiser sees every step on their timeline.
    from backend.concerns.selectors import concern_raiser_timeline

    assert [e.kind for e in concern_raiser_timeline(concern=concern)].count("escalate") == 4
    no_narrative_in_deliveries()


def test_bounced_between_handlers_raises_one_alert(demo: None) -> None:
    concern = raise_concern(at=START)
    guardian = user("guardian")
    second = StaffFactory(
        username="handler-two",
        membership__role=Role.HANDLER,
        membership__organisation=Organisation.objects.get(code="RNX07"),
    )
    first = user("handler")
    services.concern_acknowledge(concern_id=concern.pk, user=guardian, now=START + timedelta(hours=1))
    for i, handler in enumerate([first, second, first, second, first]):
        services.concern_assign(
            concern_id=concern.pk, user=guardian, handler=handler, now=START + timedelta(hours=2 + i)
        )
    concern.refresh_from_db()
    assert concern.handovers == 4
    assert alerts(concern) == ["bounced"]
    assert Delivery.objects.filter(recipient=str(user("governor").pk), channel="in_app").count() == 1
    no_narrative_in_deliveries()


def test_closed_without_feedback_and_detriment_each_alert_governors(demo: None) -> None:
    concern = raise_concern(at=START)
    guardian = user("guardian")
    services.concern_message_from_raiser(
        concern_id=concern.pk, body="I was moved off the ward.", kind="detriment", now=START + timedelta(days=1)
    )
    services.concern_acknowledge(concern_id=concern.pk, user=guardian, now=START + timedelta(days=2))
    services.concern_close(
        concern_id=concern.pk, user=guardian, reason="no further action", now=START + timedelta(days=3)
    )
    assert alerts(concern) == ["closed_without_feedback", "detriment"]
    assert kinds(concern) == ["raised", "detriment_reported", "acknowledge", "close"]
    governor = user("governor")
    assert Delivery.objects.filter(recipient=str(governor.pk), channel="in_app").count() == 2
    assert Delivery.objects.filter(recipient=governor.email, channel="email").count() == 2
    no_narrative_in_deliveries()


def test_no_activity_for_twenty_working_days_alerts_and_reminds(demo: None) -> None:
    concern = raise_concern(at=START, raiser_kind="patient")
    guardian = user("guardian")
    services.concern_acknowledge(concern_id=concern.pk, user=guardian, now=START + timedelta(hours=3))
    sweep_daily(start=START, days=40)
    assert alerts(concern) == ["inactive"]
    assert Event.objects.get(concern=concern, kind="clock_breached").data["clock"] == "inactivity"
    inactivity = Clock.objects.get(concern=concern, kind="inactivity", status=ClockStatus.FIRED)
    # 20 working days after the acknowledgement on Monday 5 January: Monday 2 February (the daily sweep
    # in this story runs at 09:30, so it fires the next morning).
    assert inactivity.due_at.date() == datetime(2026, 2, 2).date()
    assert inactivity.fired_at is not None and inactivity.fired_at.date() == datetime(2026, 2, 3).date()
    assert Delivery.objects.filter(recipient=str(guardian.pk), subject__contains="needs attention").exists()


def test_a_new_concern_on_the_same_unit_and_theme_while_one_is_open_alerts(demo: None) -> None:
    first = raise_concern(at=START, themes=("bullying",))
    second = raise_concern(at=START + timedelta(days=1), themes=("bullying", "other"))
    third = raise_concern(at=START + timedelta(days=2), themes=("worker_safety",))
    assert alerts(first) == []
    assert alerts(second) == ["repeat"]
    assert alerts(third) == []


def test_the_raiser_may_escalate_once_the_feedback_clock_has_passed(demo: None) -> None:
    concern = raise_concern(at=START, raiser_kind="patient")
    guardian = user("guardian")
    services.concern_acknowledge(concern_id=concern.pk, user=guardian, now=START + timedelta(days=1))
    early = START + timedelta(days=30)
    assert not selectors.raiser_may_escalate(concern=Concern.objects.get(pk=concern.pk), now=early)
    late = START + timedelta(days=1) + timedelta(days=93)
    assert selectors.raiser_may_escalate(concern=Concern.objects.get(pk=concern.pk), now=late)
    services.concern_escalate_by_raiser(concern_id=concern.pk, now=late)
    concern.refresh_from_db()
    assert (concern.holder.code, concern.state) == ("RNX", "escalated")
    assert Event.objects.get(concern=concern, kind="escalate").data["reason"] == "raiser_escalated"


def test_paused_clocks_do_not_fire_and_resume_later(demo: None) -> None:
    concern = raise_concern(at=START)
    guardian = user("guardian")
    services.concern_clocks_pause(
        concern_id=concern.pk, user=guardian, reason="waiting for the raiser", now=START + timedelta(days=1)
    )
    sweep_daily(start=START, days=20)
    assert not Event.objects.filter(concern=concern, kind="escalate").exists()
    services.concern_clocks_resume(concern_id=concern.pk, user=guardian, now=START + timedelta(days=21))
    ack = Clock.objects.get(concern=concern, kind="acknowledge", status=ClockStatus.PENDING)
    # 7 calendar days, 1 day used before the pause: 6 left after resuming on day 21.
    assert ack.due_at == START + timedelta(days=27)
    assert "clocks_paused" in kinds(concern) and "clocks_resumed" in kinds(concern)
