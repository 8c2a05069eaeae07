"""No exact time for an anonymous raiser's actions, anywhere staff can look (trust item 3).

The attack: the receipt time of an anonymous concern is kept only to the hour, but the guardians'
new-concern notice went out seconds after the raise, and its Delivery row kept the second. A guardian
who knows who was on shift at 10:17 needs nothing more. So the notices an anonymous raise causes wait
until after its hour, plus a random jitter; only an urgent concern (patients may be at risk of harm
now) is told at once."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.contrib.auth import get_user_model

from backend.concerns import services
from backend.concerns.audit import BrokenLink, audit_verify
from backend.concerns.models import Clock, Concern, Event, InboundSms
from backend.concerns.selectors import concern_messages
from backend.concerns.sms import sms_inbound_process, sms_inbound_store
from backend.organisations.models import Organisation
from backend.oversight.models import Alert
from notifications.models import Delivery, DeliveryStatus
from notifications.services import NOT_YET, deliveries_in_app_unread, deliveries_requeue_stale, delivery_send

pytestmark = pytest.mark.django_db

RAISED = datetime(2026, 3, 10, 10, 17, 42, tzinfo=UTC)
HOUR_END = datetime(2026, 3, 10, 11, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _locmem_channels(settings: Any) -> None:
    locmem = "notifications.channels.locmem.LocmemChannel"
    settings.NOTIFICATIONS_CHANNELS = {"email": locmem, "sms": locmem, "in_app": locmem}


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """What the worker would be asked to send (the broker, faked)."""
    ids: list[int] = []
    monkeypatch.setattr("notifications.services._deliveries_send_enqueue", lambda chunk: ids.extend(chunk))
    return ids


def _raise(ward: Organisation, *, urgent: bool, identity_mode: str = "anonymous") -> Concern:
    draft = services.ConcernDraft(
        unit=ward,
        raiser_kind="staff",
        identity_mode=identity_mode,
        themes=["behaviour"],
        what_happened="Something happened on the night shift.",
        urgent=urgent,
    )
    return services.concern_raise(draft=draft, now=RAISED).concern


def _notices(concern: Concern) -> list[Delivery]:
    notices = list(Delivery.objects.filter(idempotency_key__startswith=f"raised:{concern.pk}:"))
    assert notices, "the raise told its guardians"
    return notices


def test_an_anonymous_raise_is_told_after_its_hour(
    ward: Organisation, sent: list[int], django_capture_on_commit_callbacks: Any
) -> None:
    concern = _raise(ward, urgent=False)
    notices = _notices(concern)
    for notice in notices:
        assert notice.not_before is not None
        assert HOUR_END <= notice.not_before <= HOUR_END + timedelta(minutes=15)
        # The row itself keeps no finer time than the receipt's hour.
        assert notice.created_at == notice.updated_at == concern.received_at == HOUR_END - timedelta(hours=1)
    # Nor is it in a guardian's in-app inbox before then.
    in_app = next(n for n in notices if n.channel == "in_app")
    with time_machine.travel(RAISED + timedelta(minutes=1), tick=False):
        assert in_app not in list(deliveries_in_app_unread(recipient=in_app.recipient))
    with time_machine.travel(HOUR_END + timedelta(minutes=16), tick=False):
        assert in_app in list(deliveries_in_app_unread(recipient=in_app.recipient))

    # The worker is asked at once (after commit), but sends nothing before the hour is out.
    for notice in notices:
        assert delivery_send(delivery_id=notice.pk, now=RAISED + timedelta(seconds=5)) == NOT_YET
        notice.refresh_from_db()
        assert (notice.status, notice.attempts, notice.sent_at) == (DeliveryStatus.PENDING, 0, None)

    # Nor does the requeue sweep, however long the row has waited.
    with django_capture_on_commit_callbacks(execute=True):
        assert deliveries_requeue_stale(older_than=timedelta(minutes=2), now=HOUR_END - timedelta(seconds=1)) == 0
    assert sent == []

    # Once due, the sweep sends it.
    due = HOUR_END + timedelta(minutes=16)
    with django_capture_on_commit_callbacks(execute=True):
        assert deliveries_requeue_stale(older_than=timedelta(minutes=2), now=due) == len(notices)
    assert sorted(sent) == sorted(n.pk for n in notices)
    for notice in notices:
        assert delivery_send(delivery_id=notice.pk, now=due) != NOT_YET
        notice.refresh_from_db()
        assert notice.sent_at is not None and notice.sent_at >= HOUR_END


def test_an_urgent_anonymous_raise_is_told_at_once(ward: Organisation) -> None:
    concern = _raise(ward, urgent=True)
    for notice in _notices(concern):
        assert notice.not_before is None
        assert delivery_send(delivery_id=notice.pk, now=RAISED + timedelta(seconds=5)) != NOT_YET
        notice.refresh_from_db()
        assert notice.status != DeliveryStatus.PENDING


def test_a_named_raise_is_told_at_once(ward: Organisation) -> None:
    concern = _raise(ward, urgent=False, identity_mode="confidential")
    for notice in _notices(concern):
        assert notice.not_before is None


def test_an_anonymous_raisers_message_keeps_only_its_hour(ward: Organisation, user_named: Any) -> None:
    """A message, its Event and a detriment report are stored to the hour; the chain still holds, and
    the conversation keeps the order it was written in."""
    concern = _raise(ward, urgent=False)
    guardian = user_named("guardian")
    services.concern_message_to_raiser(
        concern_id=concern.pk, user=guardian, body="Can you tell us more?", now=RAISED + timedelta(minutes=5)
    )
    later = RAISED + timedelta(minutes=20, seconds=13)  # 10:37:55
    for kind in ("message", "detriment"):
        message = services.concern_message_from_raiser(concern_id=concern.pk, body="Yes.", kind=kind, now=later)
        assert message.created_at == HOUR_END - timedelta(hours=1)
    events = Event.objects.filter(concern=concern, actor_role="raiser", seq__gt=1)
    assert events.count() == 2
    assert {e.created_at for e in events} == {HOUR_END - timedelta(hours=1)}
    assert [m.direction for m in concern_messages(concern=concern)] == ["to_raiser", "from_raiser", "from_raiser"]
    assert [r for r in audit_verify() if isinstance(r, BrokenLink)] == []


def test_an_anonymous_raiser_withdrawing_keeps_only_its_hour(ward: Organisation) -> None:
    concern = _raise(ward, urgent=False)
    services.concern_withdraw(concern_id=concern.pk, now=RAISED + timedelta(minutes=9, seconds=2))
    event = Event.objects.get(concern=concern, kind="withdraw")
    assert event.created_at == HOUR_END - timedelta(hours=1)
    assert [r for r in audit_verify() if isinstance(r, BrokenLink)] == []


def test_no_log_line_pairs_an_anonymous_concern_with_its_time(
    ward: Organisation, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    concern = _raise(ward, urgent=False)
    services.concern_message_from_raiser(concern_id=concern.pk, body="More.", now=RAISED + timedelta(minutes=3))
    services.concern_withdraw(concern_id=concern.pk, now=RAISED + timedelta(minutes=4))
    assert caplog.records, "the raise is logged"
    for record in caplog.records:
        line = record.getMessage()
        assert f"id={concern.pk}" not in line, line
        assert concern.reference not in line, line

    caplog.clear()
    named = _raise(ward, urgent=False, identity_mode="confidential")
    assert any(f"id={named.pk}" in r.getMessage() for r in caplog.records)  # kept where it gives nothing away


def test_an_anonymous_detriment_report_tells_governors_after_its_hour(ward: Organisation) -> None:
    concern = _raise(ward, urgent=False)
    reported = RAISED + timedelta(minutes=20, seconds=13)
    services.concern_message_from_raiser(concern_id=concern.pk, body="I was moved.", kind="detriment", now=reported)
    alert = Alert.objects.get(concern=concern, rule="detriment")
    assert alert.opened_at == HOUR_END - timedelta(hours=1)
    notices = list(Delivery.objects.filter(idempotency_key__startswith=f"alert:{alert.pk}:"))
    assert notices, "governors are told"
    for notice in notices:
        assert notice.not_before is not None
        assert HOUR_END <= notice.not_before <= HOUR_END + timedelta(minutes=15)
        assert notice.created_at == HOUR_END - timedelta(hours=1)
        assert delivery_send(delivery_id=notice.pk, now=reported) == NOT_YET


def test_an_urgent_anonymous_detriment_report_tells_governors_at_once(ward: Organisation) -> None:
    concern = _raise(ward, urgent=True)
    services.concern_message_from_raiser(concern_id=concern.pk, body="I was moved.", kind="detriment", now=RAISED)
    alert = Alert.objects.get(concern=concern, rule="detriment")
    notices = list(Delivery.objects.filter(idempotency_key__startswith=f"alert:{alert.pk}:"))
    assert notices
    assert {n.not_before for n in notices} == {None}


def test_an_anonymous_raisers_own_escalation_keeps_only_its_hour(ward: Organisation, demo: None) -> None:
    """The raiser may escalate once the feedback deadline has passed; the escalation, its clocks and
    both bodies' notices say only its hour, and the notices wait for the hour to end."""
    concern = _raise(ward, urgent=False)
    services.concern_acknowledge(
        concern_id=concern.pk, user=get_user_model().objects.get(username="guardian"), now=RAISED + timedelta(days=1)
    )
    at = RAISED + timedelta(days=100, minutes=21, seconds=13)
    hour = at.replace(minute=0, second=0, microsecond=0)
    services.concern_escalate_by_raiser(concern_id=concern.pk, now=at)
    event = Event.objects.get(concern=concern, kind="escalate")
    assert event.created_at == hour
    assert {c.started_at for c in Clock.objects.filter(concern=concern, status="pending")} == {hour}
    notices = list(Delivery.objects.filter(idempotency_key__startswith=f"escalated:{concern.pk}:"))
    assert notices, "the escalation told both bodies' guardians"
    for notice in notices:
        assert notice.created_at == hour
        assert hour + timedelta(hours=1) <= notice.not_before <= hour + timedelta(hours=1, minutes=15)
    assert [r for r in audit_verify() if isinstance(r, BrokenLink)] == []


def test_an_inbound_text_keeps_only_its_hour(demo: None) -> None:
    arrived = RAISED + timedelta(minutes=3, seconds=5)
    inbound_id = sms_inbound_store(
        message_sid="SM" + "7" * 32, from_number="+447700900555", to_number="+447700900000", body="HELP", now=arrived
    )
    assert inbound_id is not None
    assert InboundSms.objects.get(pk=inbound_id).received_at == HOUR_END - timedelta(hours=1)
    sms_inbound_process(inbound_id=inbound_id, now=arrived + timedelta(seconds=2))
    inbound = InboundSms.objects.get(pk=inbound_id)
    assert (inbound.received_at, inbound.processed_at, inbound.retry_at) == (
        HOUR_END - timedelta(hours=1),
        HOUR_END - timedelta(hours=1),
        None,
    )
