"""What a channel is: something that sends one Delivery and says what became of it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from notifications.models import DeliveryStatus

if TYPE_CHECKING:
    from notifications.models import Delivery

# What a successful send may report. Not "sending": a row left in sending looks like a worker that
# died mid-send, and the sweep would send it again. A provider that only queues says "sent" and
# moves it on to delivered or undeliverable through a status callback.
RESULT_STATUSES = frozenset({DeliveryStatus.SENT, DeliveryStatus.DELIVERED})


@dataclass(frozen=True)
class ChannelResult:
    provider_id: str = ""
    status: str = DeliveryStatus.SENT

    def __post_init__(self) -> None:
        if self.status not in RESULT_STATUSES:
            raise ValueError(f"a channel reports sent or delivered, not {self.status!r}")


class ChannelError(Exception):
    """A channel's own error. ``reason`` is stored as the delivery's last_error, so a channel puts
    only codes in it (an SMTP or Twilio error code), never the recipient or the words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PermanentChannelError(ChannelError):
    """Trying again cannot help (an address or number the provider refuses for good): the delivery
    becomes undeliverable at once instead of using up its retries."""


class NotFinalYet(ChannelError):
    """The provider will not forget a message before it has its final status (Twilio: error 30400,
    "not yet delivered or failed"): asked again later, like any failed attempt."""


class DeliveryChannel(Protocol):
    def send(self, delivery: Delivery) -> ChannelResult:
        """Transmit one delivery. Raise to fail the attempt (it is retried), PermanentChannelError to
        give up. Must not write the Delivery row; may be called again for the same row after a crash,
        so pass the delivery's id or key to the provider where it deduplicates."""
        ...


class ReconcilingChannel(Protocol):
    """A channel whose provider can be asked what it already holds: before a delivery is sent again
    after an attempt whose outcome is unknown (its worker killed, or the provider's answer lost to a
    timeout, after the provider had the message), Candour looks there first rather than send twice."""

    def sent_already(self, delivery: Delivery) -> list[str]:
        """The provider's ids of the messages it holds that could be this delivery's earlier attempt
        (same recipient, sender and words, made since the delivery was written), newest first; empty
        when there are none. Raise ChannelError when the provider cannot say (the delivery is then
        sent again, as before: at least once)."""
        ...


class RedactingChannel(Protocol):
    """A channel whose provider keeps the words of what passes through it (Twilio keeps every text,
    in and out) and can be asked to forget them. A channel without ``redact`` holds nothing: no
    Redaction row is written for it."""

    def redact(self, provider_id: str, *, inbound: bool) -> bool:
        """Ask the provider to empty the body of one message it holds, and to delete its media
        (``inbound``: a raiser's text may carry a photo). True once it holds no words of it; False
        if it holds no such message. Raise NotFinalYet or ChannelError to try again later,
        PermanentChannelError to give up. Idempotent: asking twice is harmless. Like ``send``, it
        puts codes only in its errors, never the words or a number."""
        ...
