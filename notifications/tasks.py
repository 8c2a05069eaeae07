"""Celery entry points for the outbox: each calls one service and holds no logic.

Backend code never imports this module (the import contracts forbid it): services enqueue
``delivery_send`` by name, after commit, with the delivery's id only."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings

from notifications.redactions import RetryableRedactionError
from notifications.redactions import redaction_run as redaction_run_service
from notifications.redactions import redactions_requeue_stale as redactions_requeue_stale_service
from notifications.services import deliveries_requeue_stale as deliveries_requeue_stale_service
from notifications.services import delivery_send as delivery_send_service


def _requeue_older_than() -> timedelta:
    """Pending for this long means the task was lost; the beat runs the sweep every CANDOUR_REQUEUE_SECONDS."""
    return timedelta(seconds=getattr(settings, "CANDOUR_REQUEUE_AFTER_SECONDS", 120))


# acks_late + reject_on_worker_lost: a worker killed mid-task leaves the message to be delivered again
# (delivery_send is idempotent on the row). No Celery retries: a failed attempt sets the row's
# next_attempt_at (backing off, for up to CANDOUR_DELIVERY_GIVE_UP_HOURS) and the requeue sweep sends
# it then; Celery's countdowns would be lost with the broker and run out long before an outage ends.
@shared_task(
    name="notifications.tasks.delivery_send",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
)
def delivery_send(delivery_id: int) -> str:
    return delivery_send_service(delivery_id=delivery_id)


@shared_task(name="notifications.tasks.deliveries_requeue_stale", acks_late=True, ignore_result=True)
def deliveries_requeue_stale() -> int:
    return deliveries_requeue_stale_service(older_than=_requeue_older_than())


@shared_task(name="notifications.tasks.deliveries_send", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def deliveries_send(delivery_ids: list[int]) -> int:
    """A chunk written together; one that fails waits for its next try in its row (the sweep's)."""
    for delivery_id in delivery_ids:
        delivery_send_service(delivery_id=delivery_id)
    return len(delivery_ids)


# Like delivery_send: acks late, rejected on worker loss (the service claims the row and skips one
# already done, so a redelivered message is harmless), retried with backoff and jitter. Twilio's "not
# final yet" (30400) is one of the retries; once they run out the sweep takes over.
@shared_task(
    name="notifications.tasks.redaction_run",
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(RetryableRedactionError,),
    retry_backoff=True,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=8,
    ignore_result=True,
)
def redaction_run(redaction_id: int) -> str:
    return redaction_run_service(redaction_id=redaction_id)


@shared_task(name="notifications.tasks.redactions_requeue_stale", acks_late=True, ignore_result=True)
def redactions_requeue_stale() -> int:
    return redactions_requeue_stale_service()
