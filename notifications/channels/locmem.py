"""Tests: keep what was sent in memory, like django.core.mail.backends.locmem.

``outbox`` holds every delivery this process sent, in order. ``failures`` holds exceptions to raise,
one per send, before anything is kept: put a ConnectionError in it to fail the next attempt, or a
PermanentChannelError to have the delivery given up. ``redacted`` holds the provider ids it was asked
to forget, and ``redact_failures`` what to raise for the next requests (a NotFinalYet, say). Tests
clear them all with ``reset``.
"""

from __future__ import annotations

from notifications.channels.base import ChannelResult
from notifications.models import Delivery, DeliveryStatus

outbox: list[Delivery] = []
failures: list[Exception] = []
redacted: list[str] = []
redact_failures: list[Exception] = []


class LocmemChannel:
    def send(self, delivery: Delivery) -> ChannelResult:
        if failures:
            raise failures.pop(0)
        outbox.append(delivery)
        return ChannelResult(provider_id=f"locmem-{delivery.pk}", status=DeliveryStatus.SENT)

    def redact(self, provider_id: str, *, inbound: bool) -> bool:
        if redact_failures:
            raise redact_failures.pop(0)
        redacted.append(provider_id)
        return True


def reset() -> None:
    outbox.clear()
    failures.clear()
    redacted.clear()
    redact_failures.clear()
