"""Tests: keep what was sent in memory, like django.core.mail.backends.locmem.

``outbox`` holds every delivery this process sent, in order. ``failures`` holds exceptions to raise,
one per send, before anything is kept: put a ConnectionError in it to fail the next attempt, or a
PermanentChannelError to have the delivery given up. Tests clear both.
"""

from __future__ import annotations

from notifications.channels.base import ChannelResult
from notifications.models import Delivery, DeliveryStatus

outbox: list[Delivery] = []
failures: list[Exception] = []


class LocmemChannel:
    def send(self, delivery: Delivery) -> ChannelResult:
        if failures:
            raise failures.pop(0)
        outbox.append(delivery)
        return ChannelResult(provider_id=f"locmem-{delivery.pk}", status=DeliveryStatus.SENT)


def reset() -> None:
    outbox.clear()
    failures.clear()
