"""Channels without a database: the registry, and what the console channel puts out (and keeps out). The
e-mail channel sending a stored delivery, and the admin's listing, are in tests/integration."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from notifications.channels.base import ChannelResult
from notifications.channels.console import ConsoleChannel
from notifications.channels.email import EmailChannel
from notifications.channels.in_app import InAppChannel
from notifications.channels.locmem import LocmemChannel
from notifications.channels.registry import channel_get
from notifications.channels.twilio_sms import TwilioSmsChannel
from notifications.models import Delivery, DeliveryStatus


def test_the_defaults_need_no_setting(settings: Any) -> None:
    settings.NOTIFICATIONS_CHANNELS = None
    assert isinstance(channel_get("email"), EmailChannel)
    assert isinstance(channel_get("in_app"), InAppChannel)
    assert isinstance(channel_get("sms"), TwilioSmsChannel)


def test_the_setting_overrides_one_channel_at_a_time(settings: Any) -> None:
    settings.NOTIFICATIONS_CHANNELS = {"sms": "notifications.channels.locmem.LocmemChannel"}
    assert isinstance(channel_get("sms"), LocmemChannel)
    assert isinstance(channel_get("email"), EmailChannel)


def test_unknown_channels_are_configuration_errors(settings: Any) -> None:
    with pytest.raises(ImproperlyConfigured):
        channel_get("pigeon")
    settings.NOTIFICATIONS_CHANNELS = {"pigeon": "notifications.channels.console.ConsoleChannel"}
    with pytest.raises(ImproperlyConfigured, match="unknown channels"):
        channel_get("email")


def test_a_channel_cannot_report_sending() -> None:
    with pytest.raises(ValueError, match="sent or delivered"):
        ChannelResult(status=DeliveryStatus.SENDING)


def test_the_console_logs_ids_not_words_or_recipients(caplog: pytest.LogCaptureFixture) -> None:
    delivery = Delivery(pk=5, idempotency_key="k", channel="sms", recipient="vault:abc123", body="BODY-CANARY")
    with caplog.at_level(logging.INFO, logger="notifications"):
        result = ConsoleChannel().send(delivery)
    assert result.status == DeliveryStatus.SENT
    assert "id=5" in caplog.text and "channel=sms" in caplog.text
    assert "BODY-CANARY" not in caplog.text and "vault:abc123" not in caplog.text
