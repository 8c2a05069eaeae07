"""Channels: the registry, and what the e-mail and console channels put out (and keep out)."""

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
from notifications.services import delivery_send

pytestmark = pytest.mark.django_db


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


def test_email_goes_through_djangos_mail_api(settings: Any, mailoutbox: list[Any]) -> None:
    settings.NOTIFICATIONS_CHANNELS = None
    settings.DEFAULT_FROM_EMAIL = "Candour <no-reply@candour.example>"
    delivery = Delivery.objects.create(
        idempotency_key="escalated:1:1:to:7:email",
        channel="email",
        recipient="guardian@example.org",
        subject="Candour: 1 concern escalated to you",
        body="Open it: https://candour.example/inbox/ABC/",
    )
    assert delivery_send(delivery_id=delivery.pk) == DeliveryStatus.SENT
    [message] = mailoutbox
    assert message.to == ["guardian@example.org"]
    assert message.from_email == "Candour <no-reply@candour.example>"
    assert (message.subject, message.body) == (delivery.subject, delivery.body)
    assert message.extra_headers["Auto-Submitted"] == "auto-generated"
    delivery.refresh_from_db()
    # The same Message-ID on every attempt; the caller's key is not in it.
    assert message.extra_headers["Message-ID"] == delivery.provider_id
    assert delivery.provider_id.endswith("@candour.example>")
    assert "escalated" not in delivery.provider_id


def test_the_console_logs_ids_not_words_or_recipients(caplog: pytest.LogCaptureFixture) -> None:
    delivery = Delivery(pk=5, idempotency_key="k", channel="sms", recipient="vault:abc123", body="BODY-CANARY")
    with caplog.at_level(logging.INFO, logger="notifications"):
        result = ConsoleChannel().send(delivery)
    assert result.status == DeliveryStatus.SENT
    assert "id=5" in caplog.text and "channel=sms" in caplog.text
    assert "BODY-CANARY" not in caplog.text and "vault:abc123" not in caplog.text


def test_the_admin_lists_deliveries_without_their_bodies(admin_client: Any) -> None:
    delivery = Delivery.objects.create(
        idempotency_key="k", channel="email", recipient="g@example.org", subject="Subject", body="BODY-CANARY"
    )
    listing = admin_client.get("/admin/notifications/delivery/?status__exact=pending")
    assert listing.status_code == 200
    assert b"g@example.org" in listing.content and b"BODY-CANARY" not in listing.content
    page = admin_client.get(f"/admin/notifications/delivery/{delivery.pk}/change/")
    assert page.status_code == 200
    assert b"BODY-CANARY" not in page.content
