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


class Channel(models.TextChoices):
    EMAIL = "email", "E-mail"
    SMS = "sms", "SMS"
    IN_APP = "in_app", "In-app"


class DeliveryStatus(models.TextChoices):
    """A closed list, after anymail's ANYMAIL_STATUSES, in the order a delivery moves through it.

    pending        written, not yet tried
    sending        a worker has claimed it and is talking to the channel
    failed         the last attempt failed; it will be tried again (Celery's retry, or the sweep)
    sent           the channel (or provider) accepted it
    delivered      the provider reports it reached the recipient (in-app: it is in their inbox)
    undeliverable  given up: the provider refused it for good, or attempts ran out
    """

    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    FAILED = "failed", "Failed"
    SENT = "sent", "Sent"
    DELIVERED = "delivered", "Delivered"
    UNDELIVERABLE = "undeliverable", "Undeliverable"


# Rank orders the statuses. sending and failed share a rank: an attempt (sending) may fail, and a
# failed delivery is claimed again (sending) for the next attempt; that loop is the only sideways move.
STATUS_RANK: dict[str, int] = {
    DeliveryStatus.PENDING: 0,
    DeliveryStatus.SENDING: 1,
    DeliveryStatus.FAILED: 1,
    DeliveryStatus.SENT: 2,
    DeliveryStatus.DELIVERED: 3,
    DeliveryStatus.UNDELIVERABLE: 3,
}
# Nothing moves a delivery out of these.
TERMINAL: frozenset[str] = frozenset({DeliveryStatus.DELIVERED, DeliveryStatus.UNDELIVERABLE})
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
    # Short: counts, references and links only, never narrative. See the module docstring.
    body = models.CharField(max_length=2000, blank=True)
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

    class Meta:
        verbose_name_plural = "deliveries"
        indexes = [
            # The requeue sweep: stale pending, sending and failed rows, oldest first.
            models.Index(fields=["status", "updated_at"], name="delivery_status_updated"),
            # In-app inboxes: one recipient's notices on one channel.
            models.Index(fields=["channel", "recipient", "status"], name="delivery_inbox"),
            # Status callbacks look rows up by the provider's id; most rows have none worth indexing.
            models.Index(fields=["provider_id"], name="delivery_provider_id", condition=~Q(provider_id="")),
        ]
        constraints = [
            # A constraint, not unique=True on the field: that would add an unused "_like" index too.
            models.UniqueConstraint(fields=["idempotency_key"], name="delivery_idempotency_key_unique"),
            models.CheckConstraint(condition=Q(channel__in=Channel.values), name="delivery_channel_known"),
            models.CheckConstraint(condition=Q(status__in=DeliveryStatus.values), name="delivery_status_known"),
        ]

    def __str__(self) -> str:
        return f"Delivery {self.pk} ({self.channel}, {self.status})"
