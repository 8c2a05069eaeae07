"""Redaction: asking the SMS provider to forget the words of the texts that passed through it.

Twilio keeps every message's body, in and out, until asked to forget it. Candour asks for every text
once it is done with it: an inbound text once it has been processed (``redactions_request``, in the
processing transaction), an outbound one once its final status arrives on the status callback
(``services._delivery_record``). Its row (``Redaction``) is written when the provider accepts it
(``redaction_await_final``), so a text whose final status never arrives (callbacks off or lost) is
still asked about, by the sweep, after FINAL_STATUS_WAIT.

The asking happens after commit, in a worker, with the row's id only (``redaction_run``): the task
acks late, is rejected on worker loss and retries with backoff; Twilio's refusal before a message's
final status (error 30400) is one more reason to retry. A second task for the same row finds it done
and does nothing, and asking twice is harmless. A sweep (``redactions_requeue_stale``) sends the task
again for any row whose task was lost (broker down at commit, worker killed), each wait longer than
the last, and gives up, logged as an error, after MAX_REQUEUES.

A row keeps the provider's id and times only, never words or numbers; once finished its times are
kept to the hour, so it cannot place an anonymous raiser's text within the hour it arrived.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.db.models.functions import TruncHour
from django.utils import timezone

from notifications.channels.base import NotFinalYet, PermanentChannelError, RedactingChannel
from notifications.channels.registry import channel_get
from notifications.models import Channel, Direction, Redaction, RedactionStatus

logger = logging.getLogger(__name__)

# Celery finds the task by name: importing notifications.tasks here would make every caller of this
# module (the backend) import an entry point, which the import contracts forbid.
REDACTION_RUN_TASK = "notifications.tasks.redaction_run"

# While an attempt and Celery's own retries of it are under way (backoff up to retry_backoff_max=600s
# in tasks.py), the sweep keeps off the row; it takes over only once they have run out or were lost.
ATTEMPT_HOLD = timedelta(minutes=11)
# An outbound text's final status normally arrives within minutes; without it (callbacks off, or one
# lost) the sweep asks after this, and Twilio's 30400 sends it round again until the status is final.
FINAL_STATUS_WAIT = timedelta(hours=1)
# Each sweep waits twice as long as the last before sending the task again, up to this many times
# ATTEMPT_HOLD (about 12 hours); after MAX_REQUEUES sweeps (about three and a half days) it gives up.
RETRY_BACKOFF_CAP = 64
MAX_REQUEUES = 12
ERROR_MAX = Redaction._meta.get_field("last_error").max_length or 200


class RetryableRedactionError(Exception):
    """The attempt failed (Twilio not final yet, down, unreachable); the task retries with backoff.
    It carries the row's id and the error's codes only: Sentry and the worker log both see it."""


def _now(now: datetime | None) -> datetime:
    return now if now is not None else timezone.now()


def _hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def _lost_after() -> timedelta:
    """A row due this long without its task having run is taken to have lost it (the sweep's
    threshold for deliveries, CANDOUR_REQUEUE_AFTER_SECONDS)."""
    return timedelta(seconds=getattr(settings, "CANDOUR_REQUEUE_AFTER_SECONDS", 120))


def _redacting(channel: str) -> RedactingChannel | None:
    found = channel_get(channel)
    return found if callable(getattr(found, "redact", None)) else None  # type: ignore[return-value]


def channel_redacts(channel: str) -> bool:
    """Whether the provider behind ``channel`` keeps messages Candour can ask it to forget."""
    return _redacting(channel) is not None


def _run_on_commit(redaction_ids: Sequence[int]) -> None:
    # After commit only: the worker must find the row. robust: a broker that is down must not fail
    # the caller's work after its data committed; the row stays due and the sweep sends it later.
    # A closure per id, not a partial: Django names a failing robust callback by its __qualname__.
    for redaction_id in redaction_ids:

        def enqueue(redaction_id: int = redaction_id) -> None:
            current_app.send_task(REDACTION_RUN_TASK, args=[redaction_id])

        transaction.on_commit(enqueue, robust=True)


def message_known(*, provider_id: str, channel: str = Channel.SMS) -> bool:
    """Whether this provider's message was ever recorded here. Its redaction row outlives the
    message's own row (retention deletes processed inbound texts), so a signed webhook replayed
    after that is still known, and refused: Twilio's signatures carry no time to refuse it by."""
    return Redaction.objects.filter(channel=channel, provider_id=provider_id).exists()


def redactions_request(
    *, provider_ids: Sequence[str], direction: str, channel: str = Channel.SMS, now: datetime | None = None
) -> list[int]:
    """In the caller's transaction: have the provider asked, once it commits, to forget these
    messages (an inbound text just processed, an outbound one with its final status). A message
    already recorded is made due again if still pending, never written twice; one already redacted
    is left alone. Returns the ids of the rows whose task is sent after commit. Nothing is written
    for a channel whose provider keeps nothing (``channel_redacts``)."""
    if direction not in Direction.values:
        raise ValueError(f"unknown direction {direction!r}")
    ids = sorted({p for p in provider_ids if p})
    if not ids or not channel_redacts(channel):
        return []
    now = _now(now)
    retry_at = now + _lost_after()
    with transaction.atomic():
        Redaction.objects.bulk_create(
            [
                Redaction(channel=channel, provider_id=p, direction=direction, created_at=now, retry_at=retry_at)
                for p in ids
            ],
            ignore_conflicts=True,
        )
        due = Redaction.objects.filter(channel=channel, provider_id__in=ids, status=RedactionStatus.PENDING)
        due.update(retry_at=retry_at)
        pending = list(due.order_by("pk").values_list("pk", flat=True))
        _run_on_commit(pending)
    return pending


def redaction_await_final(*, provider_id: str, channel: str = Channel.SMS, now: datetime | None = None) -> None:
    """In the caller's transaction: the provider has just accepted an outbound message. Its row waits
    for the final status (``redactions_request`` then makes it due); should that never arrive, the
    sweep asks anyway after FINAL_STATUS_WAIT."""
    if not provider_id or not channel_redacts(channel):
        return
    now = _now(now)
    Redaction.objects.bulk_create(
        [
            Redaction(
                channel=channel,
                provider_id=provider_id,
                direction=Direction.OUTBOUND,
                created_at=now,
                retry_at=now + FINAL_STATUS_WAIT,
            )
        ],
        ignore_conflicts=True,
    )


def _error_summary(exc: Exception) -> str:
    """The error's class and the channel's reason (codes only, see ChannelError), never a message."""
    reason = getattr(exc, "reason", "")
    return (f"{type(exc).__name__}: {reason}" if reason else type(exc).__name__)[:ERROR_MAX]


def _finish(redaction_id: int, *, status: str, now: datetime, error: str = "") -> None:
    """Record how it ended, if it is still pending (a duplicate task may have finished it first).
    Its times go to the hour: the row outlives the text it was about."""
    with transaction.atomic():
        row = Redaction.objects.select_for_update().get(pk=redaction_id)
        if row.status != RedactionStatus.PENDING:
            return
        row.status = status
        row.created_at = _hour(row.created_at)
        row.retry_at = _hour(now)
        fields = ["status", "created_at", "retry_at"]
        if status in (RedactionStatus.REDACTED, RedactionStatus.GONE):
            row.redacted_at = _hour(now)
            fields.append("redacted_at")
        if error:
            row.last_error = error
            fields.append("last_error")
        row.save(update_fields=fields)


def _failed(redaction_id: int, *, error: str) -> None:
    Redaction.objects.filter(pk=redaction_id, status=RedactionStatus.PENDING).update(last_error=error)


def redaction_run(*, redaction_id: int, now: datetime | None = None) -> str:
    """Ask the provider, once, to forget one message, and return the row's status afterwards
    (``missing`` for an unknown id).

    Claim, ask, record: the claim (attempts + 1, the sweep held off for ATTEMPT_HOLD) commits before
    the provider is called, so no row lock is held across a network call. A row no longer pending is
    left alone. Twilio's "not final yet" (30400) and any failure the channel calls retryable leave the
    row pending and raise RetryableRedactionError for the task to retry; a permanent refusal gives it
    up. The provider's answer that it holds no such message counts as done (gone)."""
    now = _now(now)
    with transaction.atomic():
        # FOR UPDATE: a duplicate task (broker redelivery, the sweep) may claim the row at the same
        # moment; the counters stay right, and asking the provider twice does no harm.
        row = Redaction.objects.select_for_update().filter(pk=redaction_id).first()
        if row is None:
            logger.warning("redaction id=%s not found; nothing to ask", redaction_id)
            return "missing"
        if row.status != RedactionStatus.PENDING:
            return row.status
        row.attempts += 1
        # Never sooner than a sweep's backoff already set: the wait after each sweep must grow.
        row.retry_at = max(row.retry_at, now + ATTEMPT_HOLD)
        row.save(update_fields=["attempts", "retry_at"])
    try:
        redacting = _redacting(row.channel)
        if redacting is None:
            raise PermanentChannelError(f"channel {row.channel} cannot redact")
        held = redacting.redact(row.provider_id, inbound=row.direction == Direction.INBOUND)
    except PermanentChannelError as exc:
        error = _error_summary(exc)
        _finish(redaction_id, status=RedactionStatus.GIVEN_UP, now=now, error=error)
        logger.warning("redaction id=%s given up: %s", redaction_id, error)
        return RedactionStatus.GIVEN_UP
    except Exception as exc:
        error = _error_summary(exc)
        _failed(redaction_id, error=error)
        level = logging.INFO if isinstance(exc, NotFinalYet) else logging.WARNING
        logger.log(level, "redaction id=%s not yet: %s", redaction_id, error)
        # from None: a provider's own message may quote the number; keep it out of the traceback.
        raise RetryableRedactionError(f"redaction id={redaction_id} not yet: {error}") from None
    status = RedactionStatus.REDACTED if held else RedactionStatus.GONE
    _finish(redaction_id, status=status, now=now)
    logger.info("redaction id=%s %s", redaction_id, status)
    return status


def _retry_after(requeues: int) -> timedelta:
    return ATTEMPT_HOLD * min(2**requeues, RETRY_BACKOFF_CAP)


def redactions_requeue_stale(*, now: datetime | None = None, batch: int = 500, max_requeues: int = MAX_REQUEUES) -> int:
    """Send the task again for every row still pending past its retry time (its task lost, its
    retries run out, or an outbound text whose final status never came); returns how many. Each wait
    is twice the last, up to RETRY_BACKOFF_CAP times ATTEMPT_HOLD; after ``max_requeues`` a row is
    given up and logged as an error. Safe to run twice at once: rows another sweep holds are skipped."""
    now = _now(now)
    requeued = 0
    while True:
        with transaction.atomic():
            # SKIP LOCKED: a row a worker is claiming right now is not lost, just busy.
            rows = list(
                Redaction.objects.select_for_update(skip_locked=True)
                .filter(status=RedactionStatus.PENDING, retry_at__lt=now)
                .order_by("retry_at")
                .only("pk", "requeues")[:batch]
            )
            exhausted = [r.pk for r in rows if r.requeues >= max_requeues]
            if exhausted:
                Redaction.objects.filter(pk__in=exhausted).update(
                    status=RedactionStatus.GIVEN_UP, created_at=TruncHour("created_at", tzinfo=UTC), retry_at=_hour(now)
                )
                logger.error("redactions given up after %s requeues: ids=%s", max_requeues, exhausted)
            again = [r for r in rows if r.requeues < max_requeues]
            # One UPDATE per number of earlier requeues (a handful), not one per row.
            for requeues in {r.requeues for r in again}:
                Redaction.objects.filter(pk__in=[r.pk for r in again if r.requeues == requeues]).update(
                    retry_at=now + _retry_after(requeues), requeues=F("requeues") + 1
                )
            _run_on_commit([r.pk for r in again])
        requeued += len(again)
        if len(rows) < batch:
            break
    if requeued:
        logger.info("redactions requeued=%s", requeued)
    return requeued
