"""The outbox: one Delivery row per notice to one recipient on one channel.

A row is written in the same transaction as the change that causes it, and sent after commit by
``notifications.services.delivery_send``. Subject and body carry counts, references and links only,
never narrative or anything that identifies a raiser: the row is read by admins, by the worker, and
by every provider it passes through.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from backend.config.encryption import EncryptedTextField


class Channel(models.TextChoices):
    EMAIL = "email", "E-mail"
    SMS = "sms", "SMS"
    IN_APP = "in_app", "In-app"


class DeliveryStatus(models.TextChoices):
    """A closed list, after anymail's ANYMAIL_STATUSES, in the order a delivery moves through it.

    pending        written, not yet tried
    sending        a worker has claimed it and is talking to the channel
    failed         the last attempt failed; the sweep tries again from ``next_attempt_at`` (backing off,
                   for up to CANDOUR_DELIVERY_GIVE_UP_HOURS from its creation)
    sent           the channel (or provider) accepted it
    delivered      the provider reports it reached the recipient (in-app: it is in their inbox)
    undeliverable  given up, "could not be sent": the provider refused it for good, the retries ran
                   out of time (an outage longer than CANDOUR_DELIVERY_GIVE_UP_HOURS), or a send
                   killed its worker too often
    folded         not sent alone: more notices of its kind came at once than a person should get one
                   by one, so it went into one digest (``fold_key``); it is still in the in-app inbox
    """

    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    FAILED = "failed", "Failed"
    SENT = "sent", "Sent"
    DELIVERED = "delivered", "Delivered"
    UNDELIVERABLE = "undeliverable", "Undeliverable"
    FOLDED = "folded", "Folded into a digest"


# Rank orders the statuses. sending and failed share a rank: an attempt (sending) may fail, and a
# failed delivery is claimed again (sending) for the next attempt; that loop is the only sideways move.
STATUS_RANK: dict[str, int] = {
    DeliveryStatus.PENDING: 0,
    DeliveryStatus.SENDING: 1,
    DeliveryStatus.FAILED: 1,
    DeliveryStatus.SENT: 2,
    DeliveryStatus.DELIVERED: 3,
    DeliveryStatus.UNDELIVERABLE: 3,
    DeliveryStatus.FOLDED: 3,
}
# Nothing moves a delivery out of these.
TERMINAL: frozenset[str] = frozenset({DeliveryStatus.DELIVERED, DeliveryStatus.UNDELIVERABLE, DeliveryStatus.FOLDED})
# A worker may claim a delivery in these states; in any other it is being sent or was sent already.
SENDABLE: frozenset[str] = frozenset({DeliveryStatus.PENDING, DeliveryStatus.FAILED})


def status_may_move(current: str, new: str) -> bool:
    """Whether a delivery in ``current`` may move to ``new``: forward only, never out of a terminal
    status, never to itself. Provider callbacks arrive late, twice and out of order; every write of
    ``Delivery.status`` asks this first, so a late "sent" cannot undo "delivered"."""
    if new not in STATUS_RANK or current not in STATUS_RANK:
        raise ValueError(f"unknown delivery status: {current!r} -> {new!r}")
    if current == new or current in TERMINAL:
        return False
    return STATUS_RANK[new] >= STATUS_RANK[current]


class Delivery(models.Model):
    # The caller's name for this notice (say "escalated:41:1:to:7:email"): writing it twice is a no-op.
    idempotency_key = models.CharField(max_length=255)
    channel = models.CharField(max_length=16, choices=Channel.choices)
    # An e-mail address, a user id (in_app), or an opaque contact-vault token (sms): never a phone number.
    recipient = models.CharField(max_length=254)
    subject = models.CharField(max_length=255, blank=True)
    # Short: counts, references and links only, never narrative (see the module docstring); up to
    # BODY_MAX characters. Encrypted at rest: a private body (a receipt code, a guardian's words to an
    # SMS raiser) is the raiser's own until it is sent and erased, and no body need be readable
    # by someone with only the database.
    body = EncryptedTextField(blank=True)
    # A body that is the raiser's own (their receipt code, a guardian's words to them) is erased as soon
    # as the provider has it, or has given up: it must not sit in the outbox for anyone who reads it.
    private = models.BooleanField(default=False)
    # The number to send from (an SMS raiser hears from the organisation number they texted);
    # empty for the provider's default sender.
    sender = models.CharField(max_length=32, blank=True)
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    # The error's class and code only (see services._error_summary): provider messages quote recipients.
    last_error = models.CharField(max_length=200, blank=True)
    # The provider's id for the message (Message-ID, Twilio's MessageSid): how status callbacks find it.
    provider_id = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    # Set by every write (services pass their injectable ``now``), so not auto_now.
    updated_at = models.DateTimeField(default=timezone.now)
    # In-app notices only: when the recipient opened or dismissed it.
    read_at = models.DateTimeField(null=True, blank=True)
    # Not sent before this (None: at once). A notice an anonymous raiser's action caused waits past
    # the end of that action's hour, so the time it goes out cannot place the action within the hour.
    not_before = models.DateTimeField(null=True, blank=True)
    # Notices of one kind that may be folded into one digest when too many come at once (say, the new
    # concerns of one unit in one hour): past CANDOUR_NOTICE_FOLD_AFTER sent to one recipient, the
    # rest go as one digest. Empty: never folded (a raiser's own texts, in-app notices).
    fold_key = models.CharField(max_length=100, blank=True)
    # A failed delivery's next try: the requeue sweep sends it once this has passed. Set by each
    # failed attempt with exponential backoff and jitter, so a provider back from an outage is not met
    # by every waiting notice at once; None while it is not waiting to be tried again.
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "deliveries"
        indexes = [
            # The requeue sweep: stale pending, sending and failed rows, oldest first.
            models.Index(fields=["status", "updated_at"], name="delivery_status_updated"),
            # The requeue sweep: failed rows due for their next try (an outage leaves thousands).
            models.Index(fields=["next_attempt_at"], name="delivery_retry_due", condition=Q(status="failed")),
            # In-app inboxes: one recipient's notices on one channel.
            models.Index(fields=["channel", "recipient", "status"], name="delivery_inbox"),
            # Status callbacks look rows up by the provider's id; most rows have none worth indexing.
            models.Index(fields=["provider_id"], name="delivery_provider_id", condition=~Q(provider_id="")),
            # A fold's notices (each fold is one recipient's), counted when the next one is sent.
            models.Index(fields=["fold_key", "channel"], name="delivery_fold", condition=~Q(fold_key="")),
        ]
        constraints = [
            # A constraint, not unique=True on the field: that would add an unused "_like" index too.
            models.UniqueConstraint(fields=["idempotency_key"], name="delivery_idempotency_key_unique"),
            models.CheckConstraint(condition=Q(channel__in=Channel.values), name="delivery_channel_known"),
            models.CheckConstraint(condition=Q(status__in=DeliveryStatus.values), name="delivery_status_known"),
        ]

    def __str__(self) -> str:
        return f"Delivery {self.pk} ({self.channel}, {self.status})"


class Direction(models.TextChoices):
    INBOUND = "inbound", "Inbound"
    OUTBOUND = "outbound", "Outbound"


class RedactionStatus(models.TextChoices):
    """pending   to ask the provider (again); ``retry_at`` says when the sweep may send it
    redacted  the provider answered with the message's body empty (and its media deleted)
    gone      the provider holds no such message: nothing of it is left to forget
    given_up  asked too often without success (logged as an error, for an operator)"""

    PENDING = "pending", "Pending"
    REDACTED = "redacted", "Redacted"
    GONE = "gone", "Gone"
    GIVEN_UP = "given_up", "Given up"


class Redaction(models.Model):
    """One message a provider holds the words of (Twilio keeps every text's body, in and out, until
    asked to forget it), and whether it has been asked.

    Inbound texts get a row when they are processed, outbound ones when the provider accepts them;
    the worker asks the provider to empty the body once the message has its final status (Twilio
    refuses before). The row keeps the provider's id and the times only: never the words or a
    number. A message the provider holds no body of any more has ``redacted_at`` set."""

    # The channel that holds the message (sms: Twilio) and its id there (the MessageSid).
    channel = models.CharField(max_length=16, choices=Channel.choices, default=Channel.SMS)
    provider_id = models.CharField(max_length=100)
    direction = models.CharField(max_length=8, choices=Direction.choices)
    status = models.CharField(max_length=16, choices=RedactionStatus.choices, default=RedactionStatus.PENDING)
    # Calls made to the provider, and sweeps that sent the task again (each wait is longer).
    attempts = models.PositiveSmallIntegerField(default=0)
    requeues = models.PositiveSmallIntegerField(default=0)
    # The provider's status and error code only (say "twilio http 400 code 30400"): never its message.
    last_error = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # While pending: when the sweep sends its task again, taking it for lost. An outbound text's row
    # waits here for its final status; the status callback makes it due at once.
    retry_at = models.DateTimeField()
    # Since when the provider holds no body of it (redacted, or gone).
    redacted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # The sweep reads only rows still pending, by when they are due.
            models.Index(fields=["retry_at"], name="redaction_pending", condition=Q(status="pending")),
        ]
        constraints = [
            models.UniqueConstraint(fields=["channel", "provider_id"], name="redaction_message_unique"),
            models.CheckConstraint(condition=Q(status__in=RedactionStatus.values), name="redaction_status_known"),
            models.CheckConstraint(condition=Q(direction__in=Direction.values), name="redaction_direction_known"),
        ]

    def __str__(self) -> str:
        return f"Redaction {self.pk} ({self.direction}, {self.status})"
