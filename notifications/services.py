"""The outbox's use cases: the only code that writes Delivery rows.

Callers write deliveries inside their own transaction (``deliveries_create``), so a notice exists if
and only if the change that caused it committed. Sending happens after commit, in a worker, with the
delivery's id only (``delivery_send``). A sweep (``deliveries_requeue_stale``) sends again whatever a
lost broker message or a killed worker left behind. Delivery is at least once: a worker killed after
the provider accepted a message but before the row says so sends it again on the next attempt.
"""

from __future__ import annotations

import hashlib
import logging
import random
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from backend.config.db import IdsIn, UnitOfWork, lock_for_key
from notifications.channels.base import ChannelError, PermanentChannelError
from notifications.channels.registry import channel_get
from notifications.models import SENDABLE, TERMINAL, Channel, Delivery, DeliveryStatus, Direction, status_may_move
from notifications.redactions import redaction_await_final, redactions_request

logger = logging.getLogger(__name__)

# Celery finds the task by name: importing notifications.tasks here would make every caller of this
# module (the backend) import an entry point, which the import contracts forbid.
DELIVERY_SEND_TASK = "notifications.tasks.delivery_send"

# A failed attempt waits RETRY_FIRST, then twice as long after each further failure, up to RETRY_CAP,
# each wait shortened at random by up to half (jitter: a provider back from an outage is not met by
# every waiting notice at once). The requeue sweep sends it once its next_attempt_at has passed, until
# CANDOUR_DELIVERY_GIVE_UP_HOURS after it was written: an afternoon without e-mail or Twilio delays
# notices, it does not lose them. The waits live in the row, not in Celery's countdowns: a broker
# restart loses those, and Celery's retry count is far too short for an outage.
RETRY_FIRST = timedelta(seconds=30)
RETRY_CAP = timedelta(hours=1)
# Attempts before a delivery is given up whatever its age: one whose send kills its worker every time
# is requeued every CANDOUR_REQUEUE_AFTER_SECONDS and must not loop for days. Above the ~70 attempts a
# 48-hour outage takes at RETRY_CAP.
MAX_ATTEMPTS = 200
# A failed row from before next_attempt_at (None) is due this long after its last attempt.
FAILED_RETRY_AFTER = timedelta(minutes=11)
SUBJECT_MAX = Delivery._meta.get_field("subject").max_length or 255
BODY_MAX = Delivery._meta.get_field("body").max_length or 2000
ERROR_MAX = Delivery._meta.get_field("last_error").max_length or 200


# A private body is erased once the provider has the message, or once it is given up.
PRIVATE_BODY_GONE = frozenset({DeliveryStatus.SENT, DeliveryStatus.DELIVERED, DeliveryStatus.UNDELIVERABLE})
# Channels whose recipient is a contact-vault token, not an address: the token is forgotten once the
# delivery is final, like a private body (the pepper would turn a kept token back into a number by
# trying every mobile number).
TOKEN_CHANNELS = frozenset({Channel.SMS})


_CHANNELS = frozenset(Channel.values)


@dataclass(frozen=True)
class DeliveryRequest:
    """One notice to one recipient on one channel.

    ``idempotency_key`` names the notice in the caller's words (unique across all deliveries): a
    second request with the same key is the same notice and is not written again, whatever its words.
    ``body`` is short, counts, references and links only: never narrative, never what identifies a
    raiser. It is stored, shown to admins and handed to providers. The one exception is a text to an
    SMS raiser: its body is theirs (a receipt code, the guardian's words), so it is ``private`` and
    erased once sent; ``sender`` is the number it comes from, the one they texted. ``not_before``
    holds it back until then (None: send at once). ``fold_key`` names the kind and the recipient of
    a notice that may be folded into a digest when too many of its kind come at once (see
    ``delivery_send``); empty, never."""

    idempotency_key: str
    channel: str
    recipient: str
    subject: str = ""
    body: str = ""
    private: bool = False
    sender: str = ""
    not_before: datetime | None = None
    fold_key: str = ""

    def __post_init__(self) -> None:
        if not self.idempotency_key or len(self.idempotency_key) > 255:
            raise ValueError("a delivery needs an idempotency key of 1 to 255 characters")
        if self.channel not in _CHANNELS:
            raise ValueError(f"unknown channel {self.channel!r}")
        if not self.recipient or len(self.recipient) > 254:
            raise ValueError("a delivery needs a recipient of 1 to 254 characters")
        if len(self.body) > BODY_MAX:
            # Long bodies are narrative by another name: refuse them rather than store them.
            raise ValueError(f"a delivery body is at most {BODY_MAX} characters: counts and links only")


DELIVERIES_SEND_TASK = "notifications.tasks.deliveries_send"
# What delivery_send answers for a delivery held back until its not_before.
NOT_YET = "not yet"
# Ids a message carries. Publishing one costs about a millisecond of Celery's own work, and a sweep
# batch writes a thousand notices or more. A chunk is sent one delivery after another by one worker
# process: chunks much larger would leave the other processes idle while one works through them.
SEND_CHUNK = 250


def _now(now: datetime | None) -> datetime:
    return now if now is not None else timezone.now()


def _subject_fit(subject: str) -> str:
    # A subject names an organisation, whose name may be long; a clipped subject beats a lost notice.
    return subject if len(subject) <= SUBJECT_MAX else subject[: SUBJECT_MAX - 1] + "…"


def _delivery_send_enqueue(delivery_id: int) -> None:
    current_app.send_task(DELIVERY_SEND_TASK, args=[delivery_id])


def _deliveries_send_enqueue(delivery_ids: Sequence[int]) -> None:
    if len(delivery_ids) == 1:
        _delivery_send_enqueue(delivery_ids[0])
    else:
        current_app.send_task(DELIVERIES_SEND_TASK, args=[list(delivery_ids)])


def _deliveries_send_on_commit(delivery_ids: Sequence[int]) -> None:
    # After commit only: a worker must never look for a row that is not yet (or never will be) there.
    # robust: a broker that is down must not fail the caller's request after its data committed, nor
    # stop the other deliveries' callbacks; the rows stay pending and the sweep sends them later.
    # A closure, not functools.partial: Django names a robust callback that raises by its __qualname__,
    # which a partial lacks, so the log line itself would raise.
    # Ids go in chunks: a sweep that writes thousands of notices publishes tens of messages, not thousands.
    for start in range(0, len(delivery_ids), SEND_CHUNK):
        chunk = list(delivery_ids[start : start + SEND_CHUNK])

        def enqueue(chunk: list[int] = chunk) -> None:
            _deliveries_send_enqueue(chunk)

        transaction.on_commit(enqueue, robust=True)


def deliveries_build(*, requests: Sequence[DeliveryRequest], now: datetime) -> list[Delivery]:
    """Unsaved pending deliveries, one per request: the one builder of outbox rows. Added to a unit
    of work (backend.config.db), each is written unless its key is in the outbox already, and sent
    once the transaction commits (the handler registered in NotificationsConfig.ready)."""
    return [
        Delivery(
            idempotency_key=r.idempotency_key,
            channel=r.channel,
            recipient=r.recipient,
            subject=_subject_fit(r.subject),
            body=r.body,
            private=r.private,
            sender=r.sender,
            not_before=r.not_before,
            fold_key=r.fold_key,
            status=DeliveryStatus.PENDING,
            created_at=now,
            updated_at=now,
        )
        for r in requests
    ]


# Set while a worker writes deliveries it will send itself (``deliveries_sent_here``).
_SENT_HERE: ContextVar[bool] = ContextVar("deliveries_sent_here", default=False)


@contextmanager
def deliveries_sent_here() -> Iterator[None]:
    """Deliveries written inside are sent by this process once the transaction commits, not by a
    task queued for them: for a worker whose notice is the answer someone is waiting for (the reply to
    a text), which a queued task would send only after every task queued before it. A worker killed
    between the commit and the send leaves the row pending, for the requeue sweep as ever. Never in a
    web request: it would wait on the provider."""
    token = _SENT_HERE.set(True)
    try:
        yield
    finally:
        _SENT_HERE.reset(token)


def _deliveries_send_here_on_commit(delivery_ids: Sequence[int]) -> None:
    for delivery_id in delivery_ids:

        def send(delivery_id: int = delivery_id) -> None:
            delivery_send(delivery_id=delivery_id)

        # robust: a send that raises (the database gone) leaves its row to the sweep, and the
        # caller's committed work stands.
        transaction.on_commit(send, robust=True)


def deliveries_send_after_commit(delivery_ids: Sequence[int]) -> None:
    """Send these just-written deliveries once the caller's transaction commits: by a queued task, or
    by this process inside ``deliveries_sent_here``."""
    if _SENT_HERE.get():
        _deliveries_send_here_on_commit(delivery_ids)
    else:
        _deliveries_send_on_commit(delivery_ids)


def _unique(requests: Sequence[DeliveryRequest]) -> dict[str, DeliveryRequest]:
    unique: dict[str, DeliveryRequest] = {}
    for request in requests:
        unique.setdefault(request.idempotency_key, request)  # the first request with a key wins
    return unique


def deliveries_write(*, requests: Sequence[DeliveryRequest], now: datetime | None = None) -> list[int]:
    """Write the deliveries in the caller's transaction and send each new one after it commits; the
    ids of the rows written now. For writers that do not need the rows back (the clock sweep writes
    thousands a batch).

    Idempotent on the key: a key already in the outbox, or repeated within ``requests``, is not
    written (nor sent) again; a key a concurrent transaction writes makes this one skip it (the
    unique index decides, neither fails), and it is the other writer's to send."""
    unique = _unique(requests)
    if not unique:
        return []
    work = UnitOfWork()
    work.add(*deliveries_build(requests=list(unique.values()), now=_now(now)))
    return work.flush().ids.get(Delivery, [])


@transaction.atomic
def deliveries_create(*, requests: Sequence[DeliveryRequest], now: datetime | None = None) -> list[Delivery]:
    """``deliveries_write``, then the rows: one Delivery per distinct key, in the order of
    ``requests``; a key already in the outbox gives the existing row in its place."""
    keys = list(_unique(requests))
    if not keys:
        return []
    deliveries_write(requests=requests, now=now)
    by_key = {d.idempotency_key: d for d in Delivery.objects.filter(idempotency_key__in=keys)}
    return [by_key[key] for key in keys]


def _error_summary(exc: Exception) -> str:
    """The error's class and code, never its message: SMTP and Twilio errors quote the recipient."""
    if isinstance(exc, ChannelError):  # a channel's own reason, written to hold codes only
        summary = f"{type(exc).__name__}: {exc.reason}"
    else:
        code = getattr(exc, "smtp_code", None) or getattr(exc, "code", None)
        summary = f"{type(exc).__name__} {code}" if isinstance(code, int) else type(exc).__name__
    return summary[:ERROR_MAX]


def retry_delay(*, attempts: int, rng: random.Random | None = None) -> timedelta:
    """How long a delivery that has failed ``attempts`` times waits before its next try: RETRY_FIRST
    doubled per further failure up to RETRY_CAP, then between half of that and all of it at random."""
    ceiling = min(RETRY_CAP, RETRY_FIRST * 2 ** min(max(attempts - 1, 0), 20))
    return ceiling * (rng or random).uniform(0.5, 1.0)


def delivery_give_up_after() -> timedelta:
    """How long after it was written a failing delivery is given up (CANDOUR_DELIVERY_GIVE_UP_HOURS)."""
    return timedelta(hours=float(getattr(settings, "CANDOUR_DELIVERY_GIVE_UP_HOURS", 48)))


def _delivery_record(
    *,
    delivery_id: int,
    status: str,
    now: datetime,
    provider_id: str = "",
    error: str = "",
    next_attempt_at: datetime | None = None,
) -> bool:
    """Move one delivery's status forward under a row lock; False if that would move it backwards."""
    with transaction.atomic():
        delivery = Delivery.objects.select_for_update().get(pk=delivery_id)
        if not status_may_move(delivery.status, status):
            return False
        delivery.status = status
        delivery.updated_at = now
        fields = ["status", "updated_at"]
        if provider_id:
            delivery.provider_id = provider_id
            fields.append("provider_id")
        if error:
            delivery.last_error = error[:ERROR_MAX]
            fields.append("last_error")
        if next_attempt_at is not None or delivery.next_attempt_at is not None:
            delivery.next_attempt_at = next_attempt_at
            fields.append("next_attempt_at")
        if status in (DeliveryStatus.SENT, DeliveryStatus.DELIVERED) and delivery.sent_at is None:
            delivery.sent_at = now
            fields.append("sent_at")
        if delivery.private and delivery.body and status in PRIVATE_BODY_GONE:
            delivery.body = ""
            fields.append("body")
        if delivery.channel in TOKEN_CHANNELS and delivery.recipient and status in PRIVATE_BODY_GONE:
            delivery.recipient = ""
            fields.append("recipient")
        delivery.save(update_fields=fields)
        # The provider keeps the words too: once its status is final it is asked to forget them
        # (after commit); until then, from the moment it accepts the message, a row waits for that.
        if delivery.provider_id and status in TERMINAL:
            redactions_request(
                provider_ids=[delivery.provider_id], direction=Direction.OUTBOUND, channel=delivery.channel, now=now
            )
        elif provider_id and status == DeliveryStatus.SENT:
            redaction_await_final(provider_id=provider_id, channel=delivery.channel, now=now)
        return True


def delivery_send(*, delivery_id: int, now: datetime | None = None) -> str:
    """Send one delivery once, and return its status afterwards.

    Claim, send, record: the claim (pending or failed -> sending, attempts + 1) commits before the
    channel is called, so no transaction or row lock is held across a network call, a second task for
    the same row finds it sending or sent and does nothing, and a worker killed mid-send still used up
    an attempt (a delivery that kills its worker every time reaches the cap instead of looping).
    A row left in sending is the sweep's to retry. On a channel error the row says failed, with its
    next try (``next_attempt_at``, backing off) for the requeue sweep, or, once it is
    CANDOUR_DELIVERY_GIVE_UP_HOURS old, undeliverable; on PermanentChannelError it is given up at once.
    Returns the status; a failure is a normal outcome, not an exception (an outage would otherwise
    raise thousands into the worker log and Sentry)."""
    now = _now(now)
    with transaction.atomic():
        # FOR UPDATE: a duplicate task (broker redelivery, the sweep) may claim this row at the same
        # moment; the second to lock sees sending and leaves it.
        delivery = Delivery.objects.select_for_update().filter(pk=delivery_id).first()
        if delivery is None:
            logger.warning("delivery id=%s not found; nothing to send", delivery_id)
            return "missing"
        if delivery.status not in SENDABLE:
            logger.info("delivery id=%s is %s; not sending again", delivery_id, delivery.status)
            return delivery.status
        if delivery.not_before is not None and delivery.not_before > now:
            # Held back (an anonymous raiser's notice): left pending and untouched, no attempt used;
            # the requeue sweep sends it once it is due.
            return NOT_YET
        if delivery.fold_key and _fold_is_full(delivery):
            _fold(delivery, now=now)
            return DeliveryStatus.FOLDED
        delivery.status = DeliveryStatus.SENDING
        delivery.attempts += 1
        delivery.updated_at = now
        delivery.save(update_fields=["status", "attempts", "updated_at"])

    if delivery.attempts > 1:
        found = _sent_already(delivery)
        if found:
            _delivery_record(delivery_id=delivery_id, status=DeliveryStatus.SENT, now=now, provider_id=found)
            logger.info("delivery id=%s at the provider already; not sent again", delivery_id)
            return DeliveryStatus.SENT
    try:
        # Inside the try: an unknown or broken channel is a failed attempt that counts toward the cap,
        # not an exception that leaves the row to be claimed forever.
        result = channel_get(delivery.channel).send(delivery)
    except PermanentChannelError as exc:
        error = _error_summary(exc)
        _delivery_record(delivery_id=delivery_id, status=DeliveryStatus.UNDELIVERABLE, now=now, error=error)
        logger.warning("delivery id=%s channel=%s undeliverable: %s", delivery_id, delivery.channel, error)
        return DeliveryStatus.UNDELIVERABLE
    except Exception as exc:
        # The class and code only: the exception's message may quote the recipient, so it goes to no
        # row, log line or traceback.
        error = _error_summary(exc)
        return _delivery_failed(delivery=delivery, error=error, now=now)
    _delivery_record(delivery_id=delivery_id, status=result.status, now=now, provider_id=result.provider_id)
    logger.info("delivery id=%s channel=%s %s", delivery_id, delivery.channel, result.status)
    return result.status


def _sent_already(delivery: Delivery) -> str:
    """An earlier attempt's message, if the provider has it: that attempt's outcome was never recorded
    (its worker was killed after the provider accepted it, or the answer was lost to a timeout). The
    provider's id of the newest message it holds with this delivery's recipient, sender and words that
    no other delivery has recorded; "" when there is none, when the channel cannot be asked, or when
    the provider cannot say (then the delivery is sent again: a duplicate rather than a lost notice)."""
    try:
        channel = channel_get(delivery.channel)
        ask = getattr(channel, "sent_already", None)
        candidates = list(ask(delivery)) if ask is not None else []
    except ChannelError as exc:
        logger.info("delivery id=%s: the provider could not say if it has it (%s)", delivery.pk, _error_summary(exc))
        return ""
    if not candidates:
        return ""
    recorded = set(Delivery.objects.filter(provider_id__in=candidates).values_list("provider_id", flat=True))
    return next((sid for sid in candidates if sid not in recorded), "")


def _delivery_failed(*, delivery: Delivery, error: str, now: datetime) -> str:
    """Record a failed attempt: failed with its next try, or given up once the delivery is older
    than CANDOUR_DELIVERY_GIVE_UP_HOURS (the last try falls on that moment, never after it)."""
    assert delivery.pk is not None
    deadline = delivery.created_at + delivery_give_up_after()
    if now >= deadline:
        hours = delivery_give_up_after().total_seconds() / 3600
        _delivery_record(
            delivery_id=delivery.pk,
            status=DeliveryStatus.UNDELIVERABLE,
            now=now,
            error=f"gave up after {hours:g} hours: {error}",
        )
        logger.warning(
            "delivery id=%s channel=%s given up after %s attempts: %s",
            delivery.pk,
            delivery.channel,
            delivery.attempts,
            error,
        )
        return DeliveryStatus.UNDELIVERABLE
    next_attempt_at = min(now + retry_delay(attempts=delivery.attempts), deadline)
    _delivery_record(
        delivery_id=delivery.pk, status=DeliveryStatus.FAILED, now=now, error=error, next_attempt_at=next_attempt_at
    )
    logger.warning(
        "delivery id=%s channel=%s attempt %s failed: %s; next try at %s",
        delivery.pk,
        delivery.channel,
        delivery.attempts,
        error,
        next_attempt_at.isoformat(),
    )
    return DeliveryStatus.FAILED


# A burst (a wave of concerns on one ward after a news story, or junk raised to flood the guardians)
# must not bury a guardian in e-mails and texts, nor must any concern be refused for it: past this
# many notices of one fold sent to one person (CANDOUR_NOTICE_FOLD_AFTER), the rest wait and go as
# one digest (CANDOUR_NOTICE_DIGEST_AFTER_SECONDS after the first held back).
_FOLD_COUNTED = (DeliveryStatus.SENDING, DeliveryStatus.SENT, DeliveryStatus.DELIVERED)


def _fold_is_full(delivery: Delivery) -> bool:
    """Whether this fold has already sent its share to this recipient. Under a lock on the fold, so
    two workers sending its notices at once count one after the other."""
    lock_for_key(int.from_bytes(hashlib.blake2b(delivery.fold_key.encode(), digest_size=8).digest(), "big") >> 1)
    sent = (
        Delivery.objects.filter(fold_key=delivery.fold_key, channel=delivery.channel, status__in=_FOLD_COUNTED)
        .exclude(pk=delivery.pk)
        .count()
    )
    return sent >= settings.CANDOUR_NOTICE_FOLD_AFTER


def _fold(delivery: Delivery, *, now: datetime) -> None:
    """Fold the delivery (in the claim's transaction): it is not sent, and its fold's digest to the
    same recipient is written once, to go out a while after the first notice it holds back."""
    after = timedelta(seconds=settings.CANDOUR_NOTICE_DIGEST_AFTER_SECONDS)
    digest = DeliveryRequest(
        idempotency_key=f"digest:{delivery.fold_key}:{delivery.channel}",
        channel=delivery.channel,
        recipient=delivery.recipient,
        sender=delivery.sender,
        subject="Candour: more notices than usual",
        body=f"More notices like this one came at once than Candour sends one by one: “{delivery.subject}”. "
        "It held the rest back; each one is in your Candour inbox.",
        not_before=now + after,
    )
    deliveries_write(requests=[digest], now=now)
    delivery.status, delivery.updated_at = DeliveryStatus.FOLDED, now
    fields = ["status", "updated_at"]
    if delivery.channel in TOKEN_CHANNELS:
        delivery.recipient = ""
        fields.append("recipient")
    delivery.save(update_fields=fields)
    logger.info("delivery id=%s channel=%s folded into a digest", delivery.pk, delivery.channel)


def delivery_status_advance(
    *,
    status: str,
    provider_id: str = "",
    delivery_id: int | None = None,
    now: datetime | None = None,
) -> bool:
    """A provider reports what became of a delivery (a Twilio status callback, say): move it forward.

    Found by ``provider_id`` or ``delivery_id`` (exactly one). Callbacks arrive late, twice and out of
    order, so a report that would move the status backwards (or nowhere) is ignored: returns whether
    the status moved. A provider's own failure after accepting a message is ``undeliverable`` (the
    provider gave up); ``failed`` means our attempt failed and will be retried."""
    if bool(provider_id) == (delivery_id is not None):
        raise ValueError("pass exactly one of provider_id and delivery_id")
    now = _now(now)
    if delivery_id is None:
        found = Delivery.objects.filter(provider_id=provider_id).values_list("pk", flat=True).first()
        if found is None:
            logger.info("status callback for an unknown provider id; ignored")
            return False
        delivery_id = found
    elif not Delivery.objects.filter(pk=delivery_id).exists():
        return False
    return _delivery_record(delivery_id=delivery_id, status=status, now=now)


def deliveries_requeue_stale(
    *,
    older_than: timedelta,
    now: datetime | None = None,
    batch: int = 500,
    max_attempts: int = MAX_ATTEMPTS,
) -> int:
    """Send again what nobody is sending: pending rows whose task was lost (broker down at commit,
    message lost), sending rows whose worker died, and failed rows whose next try is due.

    Stale means untouched for ``older_than``; a failed row is due at its ``next_attempt_at`` (one
    without, from before that field, FAILED_RETRY_AFTER after its last attempt). A row held back
    (``not_before``) is never taken before it is due, and a pending one is taken as soon as it is
    due, whatever its age, unless touched since. A row at ``max_attempts`` is given up
    (undeliverable) instead. Each requeued row is touched (a failed one's next try moved
    ``older_than`` on), so the next sweep waits another ``older_than`` before sending it again.
    Works in batches of ``batch`` rows, each batch one transaction; returns how many were requeued.
    Safe to run twice at once: rows another sweep holds are skipped."""
    if older_than <= timedelta(0):
        raise ValueError("older_than must be positive: each requeued row must leave the stale set")
    now = _now(now)
    due = Q(not_before__isnull=True) | Q(not_before__lte=now)
    stale = (
        Q(status__in=[DeliveryStatus.PENDING, DeliveryStatus.SENDING], updated_at__lt=now - older_than)
        | Q(
            status=DeliveryStatus.FAILED,
            next_attempt_at__isnull=True,
            updated_at__lt=now - max(older_than, FAILED_RETRY_AFTER),
        )
    ) & due
    # A failed row due for its next try (the partial index delivery_retry_due).
    stale |= Q(status=DeliveryStatus.FAILED, next_attempt_at__lte=now)
    # Due now and never tried since: its send was turned away as not yet (the requeue touches it).
    stale |= Q(status=DeliveryStatus.PENDING, not_before__lte=now, updated_at__lt=F("not_before"))
    requeued = given_up = 0
    while True:
        with transaction.atomic():
            # SKIP LOCKED: a row a worker is claiming right now, or another sweep holds, is not stale.
            rows = list(
                Delivery.objects.select_for_update(skip_locked=True)
                .filter(stale)
                .order_by("updated_at")
                .only("pk", "status", "attempts")[:batch]
            )
            again, exhausted = _requeue(rows, now=now, max_attempts=max_attempts, older_than=older_than)
        requeued += again
        given_up += exhausted
        if len(rows) < batch:
            break
    if requeued or given_up:
        logger.info("deliveries requeued=%s given_up=%s", requeued, given_up)
    return requeued


def _requeue(rows: Sequence[Delivery], *, now: datetime, max_attempts: int, older_than: timedelta) -> tuple[int, int]:
    """One locked batch of stale rows: give up those out of attempts, send the rest again after
    commit. Returns (requeued, given up)."""
    # Every stale status may become undeliverable; asking status_may_move keeps the rule in one place.
    exhausted = [
        d.pk for d in rows if d.attempts >= max_attempts and status_may_move(d.status, DeliveryStatus.UNDELIVERABLE)
    ]
    again = [d for d in rows if d.attempts < max_attempts]
    if exhausted:
        Delivery.objects.filter(pk__in=exhausted).update(
            status=DeliveryStatus.UNDELIVERABLE, last_error=f"gave up after {max_attempts} attempts", updated_at=now
        )
        Delivery.objects.filter(pk__in=exhausted, private=True).update(body="")
        Delivery.objects.filter(pk__in=exhausted, channel__in=TOKEN_CHANNELS).update(recipient="")
    # Requeued failed rows are next due a full older_than from now, should this task be lost too.
    lost_by = now + older_than
    interrupted = [d.pk for d in again if d.status == DeliveryStatus.SENDING]
    if interrupted:
        # sending -> failed (a sideways move): the worker died or hung mid-send. The message may
        # have gone out; sending it again risks a duplicate rather than a lost notice.
        Delivery.objects.filter(pk__in=interrupted).update(
            status=DeliveryStatus.FAILED,
            last_error="interrupted: no result recorded",
            updated_at=now,
            next_attempt_at=lost_by,
        )
    retried = [d.pk for d in again if d.status == DeliveryStatus.FAILED]
    if retried:
        Delivery.objects.filter(pk__in=retried).update(updated_at=now, next_attempt_at=lost_by)
    waiting = [d.pk for d in again if d.status == DeliveryStatus.PENDING]
    if waiting:
        # Touched, status unchanged: the next sweep gives this send a full older_than to happen.
        Delivery.objects.filter(pk__in=waiting).update(updated_at=now)
    _deliveries_send_on_commit([d.pk for d in again])
    return len(again), len(exhausted)


def deliveries_in_app_unread(*, recipient: str, limit: int = 50) -> QuerySet[Delivery]:
    """A recipient's unread in-app notices, newest first: the in-app inbox is the outbox's in_app rows.

    Includes rows the worker has not reached yet (pending): a notice is in the inbox from the moment
    its transaction commits, whether or not a worker is running; one held back is there once due."""
    now = timezone.now()
    return (
        Delivery.objects.filter(channel=Channel.IN_APP, recipient=recipient, read_at__isnull=True)
        .filter(Q(not_before__isnull=True) | Q(not_before__lte=now))
        .exclude(status=DeliveryStatus.UNDELIVERABLE)
        .order_by("-created_at", "-pk")[:limit]
    )


def delivery_in_app_mark_read(*, delivery_id: int, recipient: str, now: datetime | None = None) -> bool:
    """Mark one in-app notice read. The recipient must match, so a user can only mark their own;
    returns False for someone else's notice, an unknown id, or one already read."""
    updated = Delivery.objects.filter(
        pk=delivery_id, channel=Channel.IN_APP, recipient=recipient, read_at__isnull=True
    ).update(read_at=_now(now))
    return bool(updated)


# A delivery in these statuses is done with: nothing will send it again (a late provider callback
# for a row no longer here is ignored, see delivery_status_advance).
PURGEABLE = frozenset(
    {DeliveryStatus.SENT, DeliveryStatus.DELIVERED, DeliveryStatus.UNDELIVERABLE, DeliveryStatus.FOLDED}
)


def deliveries_purge(*, final_before: datetime, batch: int) -> int:
    """Delete the outbox rows (recipient, subject, body and all) that reached their final status
    before ``final_before``: sent, delivered or given up. An in-app notice is its recipient's inbox
    until read, so it goes only once read before ``final_before`` (or given up). Rows still to send
    are never touched. Works by primary key, ``batch`` rows a statement, one transaction each;
    returns how many rows it deleted. Its idempotency key goes with a row: the notices written under
    it were written when their change happened, never again weeks later."""
    if batch < 1:
        raise ValueError("batch must be at least 1")
    done = Q(status__in=PURGEABLE, updated_at__lt=final_before)
    out_of_inbox = ~Q(channel=Channel.IN_APP) | Q(status=DeliveryStatus.UNDELIVERABLE) | Q(read_at__lt=final_before)
    rows = Delivery.objects.filter(done & out_of_inbox)
    deleted = last = 0
    while True:
        pks = list(rows.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:batch])
        if not pks:
            return deleted
        with transaction.atomic():
            deleted += rows.filter(IdsIn(F("pk"), pks)).delete()[0]
        last = pks[-1]
