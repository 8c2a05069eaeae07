"""The outbox services against the database, every channel swapped for locmem and the broker for a list."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import transaction

from notifications import services
from notifications.channels import locmem
from notifications.channels.base import PermanentChannelError
from notifications.models import Delivery, DeliveryStatus
from notifications.services import (
    FAILED_RETRY_AFTER,
    DeliveryRequest,
    deliveries_create,
    deliveries_in_app_unread,
    deliveries_requeue_stale,
    delivery_in_app_mark_read,
    delivery_send,
    delivery_status_advance,
)

pytestmark = pytest.mark.django_db

LOCMEM = "notifications.channels.locmem.LocmemChannel"
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
S = DeliveryStatus


class FakeCelery:
    """Stands in for celery.current_app: records what would have gone to the broker."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, list[Any]]] = []

    def send_task(self, name: str, args: list[Any]) -> None:
        self.sent.append((name, args))

    def ids(self) -> list[int]:
        """Every delivery id sent, whether alone or in a chunk."""
        return [i for _, args in self.sent for i in (args[0] if isinstance(args[0], list) else [args[0]])]


@pytest.fixture(autouse=True)
def _locmem_channels(settings: Any) -> Iterator[None]:
    settings.NOTIFICATIONS_CHANNELS = {"email": LOCMEM, "sms": LOCMEM, "in_app": LOCMEM}
    locmem.reset()
    yield
    locmem.reset()


@pytest.fixture
def broker(monkeypatch: pytest.MonkeyPatch) -> FakeCelery:
    fake = FakeCelery()
    monkeypatch.setattr(services, "current_app", fake)
    return fake


def request(key: str = "k1", *, channel: str = "email", recipient: str = "guardian@example.org") -> DeliveryRequest:
    return DeliveryRequest(
        idempotency_key=key,
        channel=channel,
        recipient=recipient,
        subject="Candour: 1 concern needs acknowledging",
        body="1 concern needs acknowledging: https://candour.example/inbox/",
    )


def make(key: str = "k1", **fields: Any) -> Delivery:
    defaults = {"channel": "email", "recipient": "guardian@example.org", "subject": "s", "body": "b"}
    return Delivery.objects.create(idempotency_key=key, **{**defaults, **fields})


# deliveries_create


def test_create_writes_pending_rows_and_enqueues_ids_only_after_commit(
    broker: FakeCelery, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        created = deliveries_create(requests=[request("a"), request("b", channel="in_app", recipient="17")], now=NOW)
        assert broker.sent == []  # nothing leaves before the caller's transaction commits
    assert len(callbacks) == 1  # one message for the rows written together
    assert [d.status for d in created] == [S.PENDING, S.PENDING]
    assert [d.created_at for d in created] == [NOW, NOW]
    assert broker.sent == [(services.DELIVERIES_SEND_TASK, [[created[0].pk, created[1].pk]])]


def test_a_large_write_goes_out_in_chunks(broker: FakeCelery, django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        created = deliveries_create(requests=[request(f"k{i}") for i in range(services.SEND_CHUNK * 2 + 1)])
    assert [name for name, _ in broker.sent] == [services.DELIVERIES_SEND_TASK] * 2 + [services.DELIVERY_SEND_TASK]
    assert broker.ids() == [d.pk for d in created]


def test_the_same_key_twice_is_one_row_and_one_send(
    broker: FakeCelery, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        first = deliveries_create(requests=[request("same")])
    with django_capture_on_commit_callbacks(execute=True) as second_callbacks:
        second = deliveries_create(requests=[request("same", recipient="someone-else@example.org")])
    assert Delivery.objects.count() == 1
    assert second[0].pk == first[0].pk
    assert second[0].recipient == "guardian@example.org"  # the first request with a key wins
    assert second_callbacks == []
    assert broker.ids() == [first[0].pk]


def test_a_key_repeated_within_one_call_is_written_once(
    broker: FakeCelery, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        created = deliveries_create(requests=[request("x"), request("y"), request("x")])
    assert [d.idempotency_key for d in created] == ["x", "y"]
    assert Delivery.objects.count() == 2
    assert sorted(broker.ids()) == sorted(d.pk for d in created)


def test_a_rolled_back_transaction_leaves_no_row_and_sends_nothing(
    broker: FakeCelery, django_capture_on_commit_callbacks: Any
) -> None:
    def the_callers_change_fails() -> None:
        with transaction.atomic():
            deliveries_create(requests=[request("doomed")])
            raise RuntimeError("the caller's change failed")

    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(RuntimeError):
        the_callers_change_fails()
    assert callbacks == []
    assert broker.sent == []
    assert not Delivery.objects.exists()


def test_a_broker_down_at_commit_does_not_fail_the_caller(
    monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    class DownCelery:
        def send_task(self, name: str, args: list[Any]) -> None:
            raise ConnectionError("broker unreachable")

    monkeypatch.setattr(services, "current_app", DownCelery())
    with django_capture_on_commit_callbacks(execute=True):
        created = deliveries_create(requests=[request("a"), request("b")])
    # Both rows stay pending for the sweep; the second callback still ran (robust on_commit).
    assert [Delivery.objects.get(pk=d.pk).status for d in created] == [S.PENDING, S.PENDING]


def test_requests_are_checked_and_long_subjects_clipped(broker: FakeCelery) -> None:
    with pytest.raises(ValueError, match="unknown channel"):
        DeliveryRequest(idempotency_key="k", channel="pigeon", recipient="x")
    with pytest.raises(ValueError, match="idempotency key"):
        DeliveryRequest(idempotency_key="", channel="email", recipient="x")
    with pytest.raises(ValueError, match="counts and links only"):
        DeliveryRequest(idempotency_key="k", channel="email", recipient="x", body="n" * 2001)
    [delivery] = deliveries_create(
        requests=[DeliveryRequest(idempotency_key="k", channel="email", recipient="x", subject="S" * 400)]
    )
    assert len(delivery.subject) == 255 and delivery.subject.endswith("…")


# delivery_send


def test_send_moves_pending_to_sent_once() -> None:
    delivery = make()
    assert delivery_send(delivery_id=delivery.pk, now=NOW) == S.SENT
    assert delivery_send(delivery_id=delivery.pk, now=NOW) == S.SENT  # a duplicate task
    delivery.refresh_from_db()
    assert [d.pk for d in locmem.outbox] == [delivery.pk]  # the channel was called once
    assert (delivery.status, delivery.attempts, delivery.sent_at) == (S.SENT, 1, NOW)
    assert delivery.provider_id == f"locmem-{delivery.pk}"


def test_a_row_another_worker_is_sending_is_left_alone() -> None:
    delivery = make(status=S.SENDING, attempts=1)
    assert delivery_send(delivery_id=delivery.pk) == S.SENDING
    assert locmem.outbox == []
    delivery.refresh_from_db()
    assert delivery.attempts == 1


def test_an_unknown_id_is_not_an_error() -> None:
    assert delivery_send(delivery_id=987654) == "missing"


def test_a_failure_is_recorded_without_the_recipient_then_the_retry_sends() -> None:
    delivery = make(recipient="alice@example.org")
    locmem.failures.append(ConnectionError("550 mailbox alice@example.org unavailable"))
    assert delivery_send(delivery_id=delivery.pk, now=NOW) == S.FAILED
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_error) == (S.FAILED, 1, "ConnectionError")
    # The next try waits between half and all of the first backoff.
    assert delivery.next_attempt_at is not None
    assert NOW + services.RETRY_FIRST / 2 <= delivery.next_attempt_at <= NOW + services.RETRY_FIRST
    assert locmem.outbox == []

    assert delivery_send(delivery_id=delivery.pk, now=NOW + timedelta(seconds=2)) == S.SENT
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (S.SENT, 2)
    assert len(locmem.outbox) == 1


def test_an_smtp_code_is_kept_but_not_the_message() -> None:
    import smtplib

    delivery = make(recipient="bob@example.org")
    locmem.failures.append(smtplib.SMTPDataError(451, b"try later, bob@example.org"))
    assert delivery_send(delivery_id=delivery.pk) == S.FAILED
    delivery.refresh_from_db()
    assert delivery.last_error == "SMTPDataError 451"


def test_a_permanent_failure_gives_up_at_once() -> None:
    delivery = make()
    locmem.failures.append(PermanentChannelError("21211"))
    assert delivery_send(delivery_id=delivery.pk) == S.UNDELIVERABLE
    assert delivery_send(delivery_id=delivery.pk) == S.UNDELIVERABLE  # and stays given up
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_error) == (
        S.UNDELIVERABLE,
        1,
        "PermanentChannelError: 21211",
    )
    assert locmem.outbox == []


def test_a_broken_channel_setting_counts_as_a_failed_attempt(settings: Any) -> None:
    settings.NOTIFICATIONS_CHANNELS = {"email": "notifications.channels.nowhere.Channel"}
    delivery = make()
    assert delivery_send(delivery_id=delivery.pk) == S.FAILED
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_error) == (S.FAILED, 1, "ImproperlyConfigured")


def test_failures_back_off_to_the_cap_then_give_up_after_the_window(settings: Any) -> None:
    settings.CANDOUR_DELIVERY_GIVE_UP_HOURS = 6
    delivery = make("outage", created_at=NOW, updated_at=NOW)
    now, waits = NOW, []
    while True:
        locmem.failures.append(ConnectionError("down"))
        outcome = delivery_send(delivery_id=delivery.pk, now=now)
        delivery.refresh_from_db()
        if outcome == S.UNDELIVERABLE:
            break
        assert outcome == S.FAILED and delivery.next_attempt_at is not None
        waits.append(delivery.next_attempt_at - now)
        now = delivery.next_attempt_at
    # Each wait is within [half, all] of its doubling ceiling, never above an hour, and the last try
    # falls on the end of the window, not after it.
    for attempt, wait in enumerate(waits[:-1], start=1):
        ceiling = min(services.RETRY_CAP, services.RETRY_FIRST * 2 ** (attempt - 1))
        assert ceiling / 2 <= wait <= ceiling
    assert now == NOW + timedelta(hours=6)
    assert (delivery.status, delivery.last_error) == (S.UNDELIVERABLE, "gave up after 6 hours: ConnectionError")
    assert 8 <= delivery.attempts <= 20
    assert locmem.outbox == []


def test_requeue_sends_failed_rows_when_their_next_try_is_due(
    broker: FakeCelery, django_capture_on_commit_callbacks: Any
) -> None:
    due = make("due", status=S.FAILED, attempts=3, updated_at=NOW - timedelta(minutes=5), next_attempt_at=NOW)
    make(
        "waiting",
        status=S.FAILED,
        attempts=3,
        updated_at=NOW - timedelta(hours=1),
        next_attempt_at=NOW + timedelta(seconds=1),
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert deliveries_requeue_stale(older_than=timedelta(minutes=2), now=NOW) == 1
    assert broker.ids() == [due.pk]
    due.refresh_from_db()
    # Due again only if this task is lost too: not at the next sweep.
    assert due.next_attempt_at == NOW + timedelta(minutes=2)
    with django_capture_on_commit_callbacks(execute=True):
        assert deliveries_requeue_stale(older_than=timedelta(minutes=2), now=NOW + timedelta(minutes=1)) == 1
    assert len(broker.ids()) == 2  # the "waiting" row, now due; "due" is not sent twice


# delivery_status_advance


def test_status_callbacks_only_move_forward() -> None:
    delivery = make()
    delivery_send(delivery_id=delivery.pk, now=NOW)
    provider_id = f"locmem-{delivery.pk}"
    assert delivery_status_advance(provider_id=provider_id, status=S.DELIVERED)
    assert not delivery_status_advance(provider_id=provider_id, status=S.SENT)  # late
    assert not delivery_status_advance(provider_id=provider_id, status=S.DELIVERED)  # twice
    assert not delivery_status_advance(delivery_id=delivery.pk, status=S.FAILED)
    delivery.refresh_from_db()
    assert delivery.status == S.DELIVERED
    assert delivery.sent_at == NOW  # set by the send, not moved by the callback


def test_status_callbacks_for_unknown_deliveries_are_ignored() -> None:
    assert not delivery_status_advance(provider_id="SMnothing", status=S.DELIVERED)
    assert not delivery_status_advance(delivery_id=424242, status=S.DELIVERED)
    with pytest.raises(ValueError, match="exactly one"):
        delivery_status_advance(provider_id="x", delivery_id=1, status=S.DELIVERED)
    with pytest.raises(ValueError, match="exactly one"):
        delivery_status_advance(status=S.DELIVERED)


# deliveries_requeue_stale


def test_requeue_takes_stale_rows_only(broker: FakeCelery, django_capture_on_commit_callbacks: Any) -> None:
    two_minutes = timedelta(minutes=2)
    old = NOW - timedelta(minutes=3)
    stale_pending = make("stale-pending", updated_at=old)
    stuck_sending = make("stuck-sending", status=S.SENDING, attempts=1, updated_at=old)
    long_failed = make("long-failed", status=S.FAILED, attempts=9, updated_at=NOW - FAILED_RETRY_AFTER - two_minutes)
    make("fresh-pending", updated_at=NOW - timedelta(seconds=30))
    make("fresh-sending", status=S.SENDING, attempts=1, updated_at=NOW - timedelta(seconds=30))
    # Failed three minutes ago: Celery's own backoff retry may still be waiting; not the sweep's yet.
    make("recent-failed", status=S.FAILED, attempts=2, updated_at=old)
    for i, status in enumerate([S.SENT, S.DELIVERED, S.UNDELIVERABLE]):
        make(f"done-{i}", status=status, attempts=1, updated_at=NOW - timedelta(days=1))

    with django_capture_on_commit_callbacks(execute=True):
        assert deliveries_requeue_stale(older_than=two_minutes, now=NOW) == 3
    assert sorted(broker.ids()) == sorted([stale_pending.pk, stuck_sending.pk, long_failed.pk])

    stuck_sending.refresh_from_db()
    assert (stuck_sending.status, stuck_sending.last_error) == (S.FAILED, "interrupted: no result recorded")
    stale_pending.refresh_from_db()
    assert (stale_pending.status, stale_pending.updated_at) == (S.PENDING, NOW)  # touched, not moved

    # Requeued rows wait another older_than before the next sweep sends them again.
    with django_capture_on_commit_callbacks(execute=True):
        assert deliveries_requeue_stale(older_than=two_minutes, now=NOW + timedelta(minutes=1)) == 0
    # The interrupted row is sent by the requeued task: it may be claimed again from failed.
    assert delivery_send(delivery_id=stuck_sending.pk) == S.SENT


def test_requeue_gives_up_at_the_attempt_cap(broker: FakeCelery, django_capture_on_commit_callbacks: Any) -> None:
    long_ago = NOW - timedelta(hours=1)
    exhausted = make("exhausted", status=S.FAILED, attempts=5, updated_at=long_ago)
    killer = make("kills-its-worker", status=S.SENDING, attempts=5, updated_at=long_ago)
    retry = make("retry", status=S.FAILED, attempts=4, updated_at=long_ago)
    with django_capture_on_commit_callbacks(execute=True):
        assert deliveries_requeue_stale(older_than=timedelta(minutes=2), now=NOW, max_attempts=5) == 1
    assert broker.ids() == [retry.pk]
    for delivery in (exhausted, killer):
        delivery.refresh_from_db()
        assert (delivery.status, delivery.last_error) == (S.UNDELIVERABLE, "gave up after 5 attempts")


def test_requeue_works_through_every_batch(broker: FakeCelery, django_capture_on_commit_callbacks: Any) -> None:
    rows = [make(f"r{i}", updated_at=NOW - timedelta(minutes=10, seconds=i)) for i in range(5)]
    with django_capture_on_commit_callbacks(execute=True):
        assert deliveries_requeue_stale(older_than=timedelta(minutes=2), now=NOW, batch=2) == 5
    assert sorted(broker.ids()) == sorted(d.pk for d in rows)


def test_requeue_needs_a_positive_threshold() -> None:
    with pytest.raises(ValueError, match="positive"):
        deliveries_requeue_stale(older_than=timedelta(0))


# the in-app inbox


def test_in_app_notices_are_the_inbox_until_read(settings: Any, broker: FakeCelery) -> None:
    settings.NOTIFICATIONS_CHANNELS = {}  # the real in_app channel
    first, second = deliveries_create(
        requests=[request("n1", channel="in_app", recipient="17"), request("n2", channel="in_app", recipient="17")],
        now=NOW,
    )
    deliveries_create(requests=[request("other", channel="in_app", recipient="18"), request("mail")], now=NOW)
    # In the inbox before any worker runs: the row is the notice.
    assert [d.pk for d in deliveries_in_app_unread(recipient="17")] == [second.pk, first.pk]

    assert delivery_send(delivery_id=first.pk) == S.DELIVERED
    assert not delivery_in_app_mark_read(delivery_id=first.pk, recipient="18")  # not theirs
    assert delivery_in_app_mark_read(delivery_id=first.pk, recipient="17", now=NOW)
    assert not delivery_in_app_mark_read(delivery_id=first.pk, recipient="17")  # already read
    assert [d.pk for d in deliveries_in_app_unread(recipient="17")] == [second.pk]
    first.refresh_from_db()
    assert (first.status, first.read_at) == (S.DELIVERED, NOW)
