"""Outbox bodies are encrypted at rest: a private one (a receipt code, a guardian's words to an SMS
raiser) is unreadable in the database until it is sent and erased."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from notifications.models import Delivery, DeliveryStatus
from notifications.services import DeliveryRequest, deliveries_write, delivery_send

pytestmark = pytest.mark.django_db

CANARY = "Candour: your receipt is OUTBOX-CANARY-7Q4M. Keep it safe."


@pytest.fixture(autouse=True)
def _locmem_channels(settings: Any) -> None:
    locmem = "notifications.channels.locmem.LocmemChannel"
    settings.NOTIFICATIONS_CHANNELS = {"email": locmem, "sms": locmem, "in_app": locmem}


def _stored_body(pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT body FROM notifications_delivery WHERE id = %s", [pk])
        return str(cursor.fetchone()[0])


def test_a_private_body_is_ciphertext_until_sent_then_gone() -> None:
    [pk] = deliveries_write(
        requests=[
            DeliveryRequest(idempotency_key="outbox:1", channel="sms", recipient="tok-1", body=CANARY, private=True)
        ]
    )
    stored = _stored_body(pk)
    assert stored and "OUTBOX-CANARY" not in stored and stored != CANARY
    assert Delivery.objects.get(pk=pk).body == CANARY  # the worker reads it
    assert delivery_send(delivery_id=pk) == DeliveryStatus.SENT
    assert _stored_body(pk) == "" and Delivery.objects.get(pk=pk).body == ""


def test_a_staff_notice_body_is_ciphertext_too() -> None:
    body = "A new concern, CN-ABCD-EFGH, has been raised. STAFF-CANARY"
    [pk] = deliveries_write(
        requests=[DeliveryRequest(idempotency_key="outbox:2", channel="email", recipient="g@nhs.invalid", body=body)]
    )
    assert "STAFF-CANARY" not in _stored_body(pk)
    assert Delivery.objects.get(pk=pk).body == body
