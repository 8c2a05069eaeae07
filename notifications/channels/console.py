"""Development: say that a delivery would have gone out. Logs ids only, never the words or the
recipient (SMS recipients are contact-vault tokens, but the body may still name a case)."""

from __future__ import annotations

import logging

from notifications.channels.base import ChannelResult
from notifications.models import Delivery, DeliveryStatus

logger = logging.getLogger(__name__)


class ConsoleChannel:
    def send(self, delivery: Delivery) -> ChannelResult:
        logger.info("delivery id=%s channel=%s sent to the console", delivery.pk, delivery.channel)
        return ChannelResult(provider_id=f"console-{delivery.pk}", status=DeliveryStatus.SENT)
