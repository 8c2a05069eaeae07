"""The SMS conversation through the backend handler the Twilio webhook calls."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from backend.concerns import services
from backend.concerns.models import Concern, InboundSms, Message, VaultEntry
from backend.concerns.sms import sms_inbound
from backend.concerns.vault import vault_number_for_token
from notifications.models import Delivery

pytestmark = pytest.mark.django_db

RAISER = "+447700900555"
TRUST_NUMBER = "+447700900101"  # RNX in the demo


def text(body: str, sid: str, number: str = RAISER) -> str | None:
    return sms_inbound(message_sid=sid, from_number=number, to_number=TRUST_NUMBER, body=body)


def test_a_first_text_raises_an_anonymous_concern_and_later_texts_add_to_it(demo: None) -> None:
    reply = text("Ward 7 left with one nurse again tonight", "SM1")
    concern = Concern.objects.get()
    assert reply and concern.reference in reply and "receipt code" in reply
    assert "phone company" in reply  # says plainly what anonymity means by SMS
    assert (concern.channel, concern.identity_mode, concern.unit.code) == ("sms", "anonymous", "RNX")
    assert concern.what_happened == "Ward 7 left with one nurse again tonight"
    assert text("And the agency nurse left at 2am", "SM2") == f"Candour: added to concern {concern.reference}."
    assert Message.objects.get(concern=concern).body == "And the agency nurse left at 2am"
    # A retried webhook (same MessageSid) does nothing and replies nothing.
    assert text("And the agency nurse left at 2am", "SM2") is None
    assert Message.objects.filter(concern=concern).count() == 1
    assert InboundSms.objects.count() == 2


def test_keywords(demo: None) -> None:
    assert "STATUS" in (text("help", "SM1") or "")
    assert "no open concern" in (text("STATUS", "SM2") or "")
    text("Something is wrong on the maternity unit", "SM3")
    assert "is received" in (text("status", "SM4") or "")
    assert "cannot be escalated yet" in (text("ESCALATE", "SM5") or "")
    assert text("STOP", "SM6") is None
    token = Concern.objects.get().contact_token
    assert vault_number_for_token(token) is None  # no texts after STOP
    assert "again" in (text("START", "SM7") or "")
    assert vault_number_for_token(token) == RAISER


def test_long_and_non_latin_messages_arrive_whole(demo: None) -> None:
    body = "مرحبا، الممرضة وحدها في الجناح. " * 20 + "😟"
    text(body, "SM1")
    assert Concern.objects.get().what_happened == body


def test_a_guardian_reply_goes_out_by_sms_to_the_vault_token_and_closing_purges_the_number(demo: None) -> None:
    text("Bullying on the night shift", "SM1")
    concern = Concern.objects.get()
    guardian = get_user_model().objects.get(username="guardian")
    services.concern_acknowledge(concern_id=concern.pk, user=guardian)
    services.concern_message_to_raiser(concern_id=concern.pk, user=guardian, body="Which week was it?")
    sms = Delivery.objects.get(channel="sms")
    assert sms.recipient == concern.contact_token
    assert "Which week was it?" in sms.body
    assert vault_number_for_token(sms.recipient) == RAISER
    services.concern_close(concern_id=concern.pk, user=guardian, reason="raiser did not reply")
    assert not VaultEntry.objects.exists()
    assert vault_number_for_token(concern.contact_token) is None


@pytest.mark.parametrize("form", ["+447700900555", "07700900555", "07700 900 555", "+44 7700 900555"])
def test_the_number_in_any_format_is_nowhere_outside_the_vault(demo: None, form: str) -> None:
    text("Canary concern", "SM1", number=form)
    guardian = get_user_model().objects.get(username="guardian")
    concern = Concern.objects.get()
    services.concern_message_to_raiser(concern_id=concern.pk, user=guardian, body="Thanks")
    tables = [m._meta.db_table for m in (Concern, Message, Delivery, InboundSms)]
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"SELECT * FROM {table}")
            dumped = repr(cursor.fetchall())
            for canary in ("7700900555", "7700 900 555", "900555"):
                assert canary not in dumped, (table, canary)
        cursor.execute("SELECT number FROM concerns_vaultentry")
        (stored,) = cursor.fetchone()
    assert "7700900555" not in stored  # encrypted at rest even in the vault
