"""Channels against the database: the e-mail channel sending a stored delivery, and the admin's
listing of deliveries (the registry and the console channel are in tests/unit)."""

from __future__ import annotations

from typing import Any

import pytest

from notifications.models import Delivery, DeliveryStatus
from notifications.services import delivery_send

pytestmark = pytest.mark.django_db


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
