"""In-app notices: nothing to transmit. The Delivery rows of channel in_app are the inbox (see
services.deliveries_in_app_unread); sending only records that the notice is there."""

from __future__ import annotations

from notifications.channels.base import ChannelResult
from notifications.models import Delivery, DeliveryStatus


class InAppChannel:
    def send(self, delivery: Delivery) -> ChannelResult:
        return ChannelResult(status=DeliveryStatus.DELIVERED)
