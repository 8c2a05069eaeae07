"""The SMS conversation through the backend services the Twilio webhook and the worker call: the
webhook stores a text (once per MessageSid), the worker processes it (once) and the reply goes out
through the outbox to the raiser's vault token. Tasks are not run here; the services are called as
the task would call them (tests/security/test_canaries.py drives the same path through gunicorn and a real worker)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, connections
from django.utils import timezone

from backend.concerns import services
from backend.concerns.crypto import ContactSpace, contact_token
from backend.concerns.models import Concern, InboundSms, Message, VaultEntry
from backend.concerns.sms import sms_inbound_process, sms_inbound_requeue_stale, sms_inbound_store
from backend.concerns.vault import vault_number_for_token
from notifications.models import Delivery

pytestmark = pytest.mark.django_db

RAISER = "+447700900555"
TRUST_NUMBER = "+447700900101"  # RNX in the demo


def _sms_after(last_pk: int) -> list[Delivery]:
    return list(Delivery.objects.filter(channel="sms", pk__gt=last_pk).order_by("pk"))


def _last_pk() -> int:
    return Delivery.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def text(body: str, sid: str, number: str = RAISER) -> str | None:
    """Text Candour as the webhook and then the worker would: the reply written to the outbox, or
    None if none was (a repeated MessageSid, STOP, an opted-out raiser)."""
    before = _last_pk()
    inbound_id = sms_inbound_store(message_sid=sid, from_number=number, to_number=TRUST_NUMBER, body=body)
    if inbound_id is None:
        return None
    sms_inbound_process(inbound_id=inbound_id)
    replies = _sms_after(before)
    assert len(replies) <= 1
    if not replies:
        return None
    assert replies[0].recipient == contact_token(number, space=ContactSpace.RAISER)  # the vault token, never the number
    # From the number they texted, and the words are theirs: erased from the outbox once sent.
    assert (replies[0].sender, replies[0].private) == (TRUST_NUMBER, True)
    return replies[0].body


def test_a_first_text_raises_an_anonymous_concern_and_later_texts_add_to_it(demo: None) -> None:
    reply = text("Ward 7 left with one nurse again tonight", "SM1")
    concern = Concern.objects.get()
    assert reply and concern.reference in reply and "receipt code" in reply
    assert "phone company" in reply  # says plainly what anonymity means by SMS
    assert (concern.channel, concern.identity_mode, concern.unit.code) == ("sms", "anonymous", "RNX")
    assert concern.what_happened == "Ward 7 left with one nurse again tonight"
    assert text("And the agency nurse left at 2am", "SM2") == f"Candour: added to concern {concern.reference}."
    assert Message.objects.get(concern=concern).body == "And the agency nurse left at 2am"
    # A retried webhook (same MessageSid) stores nothing, so nothing is processed or replied.
    assert text("And the agency nurse left at 2am", "SM2") is None
    assert Message.objects.filter(concern=concern).count() == 1
    assert InboundSms.objects.count() == 2


def test_the_receipt_in_the_reply_opens_the_follow_up(demo: None, client: Any) -> None:
    reply = text("Nobody signs the controlled drugs book", "SM1") or ""
    receipt = reply.rsplit("receipt code ", 1)[1].rstrip(".")
    assert services.concern_for_receipt(code=receipt) == Concern.objects.get()


def test_a_repeated_sid_stores_nothing_and_queues_nothing(
    demo: None, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    with django_capture_on_commit_callbacks() as first:
        inbound_id = sms_inbound_store(message_sid="SM1", from_number=RAISER, to_number=TRUST_NUMBER, body="hi")
    assert inbound_id is not None
    assert len(first) == 1  # the processing task, sent after commit
    for _ in range(9):
        with django_capture_on_commit_callbacks() as again:
            assert sms_inbound_store(message_sid="SM1", from_number=RAISER, to_number=TRUST_NUMBER, body="hi") is None
        assert again == []
    assert InboundSms.objects.count() == 1


def test_a_text_is_processed_once_however_often_its_task_runs(demo: None) -> None:
    inbound_id = sms_inbound_store(message_sid="SM1", from_number=RAISER, to_number=TRUST_NUMBER, body="Unsafe")
    assert inbound_id is not None
    assert sms_inbound_process(inbound_id=inbound_id) == "replied"
    assert sms_inbound_process(inbound_id=inbound_id) == "done already"
    assert sms_inbound_process(inbound_id=inbound_id + 1000) == "missing"
    assert Concern.objects.count() == 1
    assert Delivery.objects.filter(channel="sms").count() == 1


def test_the_stored_text_is_encrypted_and_emptied_once_processed(demo: None) -> None:
    inbound_id = sms_inbound_store(
        message_sid="SM1", from_number=RAISER, to_number=TRUST_NUMBER, body="The canary words"
    )
    assert inbound_id is not None

    def stored() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SELECT payload FROM concerns_inboundsms WHERE id = %s", [inbound_id])
            return str(cursor.fetchone()[0])

    waiting = stored()
    assert waiting and "7700900555" not in waiting and "canary" not in waiting
    sms_inbound_process(inbound_id=inbound_id)
    assert stored() == ""
    assert InboundSms.objects.get().processed_at is not None


def test_keywords(demo: None) -> None:
    assert "STATUS" in (text("help", "SM1") or "")
    assert "no open concern" in (text("STATUS", "SM2") or "")
    text("Something is wrong on the maternity unit", "SM3")
    assert "is received" in (text("status", "SM4") or "")
    assert "cannot be escalated yet" in (text("ESCALATE", "SM5") or "")
    assert text("STOP", "SM6") is None
    token = Concern.objects.get().contact_token
    assert vault_number_for_token(token) is None  # no texts after STOP
    assert text("HELP", "SM7") is None  # replies respect the opt-out
    assert text("Another thing", "SM8") is None
    assert Message.objects.get().body == "Another thing"  # the text still counts; only the reply is held
    assert "again" in (text("START", "SM9") or "")
    assert vault_number_for_token(token) == RAISER


def test_stop_from_a_number_candour_never_held_stores_no_number(demo: None) -> None:
    assert text("STOP", "SM1") is None
    assert not VaultEntry.objects.exists()


def test_long_and_non_latin_messages_arrive_whole(demo: None) -> None:
    body = "مرحبا، الممرضة وحدها في الجناح. " * 20 + "😟"
    text(body, "SM1")
    assert Concern.objects.get().what_happened == body


def test_a_guardian_reply_goes_out_by_sms_to_the_vault_token_and_closing_purges_the_number(demo: None) -> None:
    text("Bullying on the night shift", "SM1")
    concern = Concern.objects.get()
    guardian = get_user_model().objects.get(username="guardian")
    services.concern_acknowledge(concern_id=concern.pk, user=guardian)
    before = _last_pk()
    services.concern_message_to_raiser(concern_id=concern.pk, user=guardian, body="Which week was it?")
    [sms] = _sms_after(before)
    assert sms.recipient == concern.contact_token
    assert "Which week was it?" in sms.body
    # From the trust's number the raiser texted: their answer reaches the same body.
    assert (sms.sender, sms.private) == (TRUST_NUMBER, True)
    assert vault_number_for_token(sms.recipient) == RAISER
    before = _last_pk()
    services.concern_close(concern_id=concern.pk, user=guardian, reason="raiser did not reply")
    # Closing asks whether they may be texted check-ins (services.aftercare): the number waits for the
    # answer, and NO purges it at once (silence does at the end of the consent window).
    [question] = _sms_after(before)
    assert "Reply YES" in question.body and question.recipient == concern.contact_token
    assert text("NO", "SM2") is None
    assert not VaultEntry.objects.exists()
    assert vault_number_for_token(concern.contact_token) is None


def test_a_text_whose_task_was_lost_is_requeued_with_backoff_then_given_up(
    demo: None, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    now = timezone.now()
    lost = sms_inbound_store(message_sid="SM1", from_number=RAISER, to_number=TRUST_NUMBER, body="lost", now=now)
    done = sms_inbound_store(message_sid="SM2", from_number=RAISER, to_number=TRUST_NUMBER, body="HELP", now=now)
    assert lost and done
    sms_inbound_process(inbound_id=done)
    assert sms_inbound_requeue_stale(now=now + timedelta(seconds=30)) == 0  # not due yet
    with django_capture_on_commit_callbacks() as sent:
        assert sms_inbound_requeue_stale(now=now + timedelta(seconds=61)) == 1  # the processed one is not
    assert len(sent) == 1
    row = InboundSms.objects.get(pk=lost)
    assert row.requeues == 1
    assert row.retry_at is not None and row.retry_at - (now + timedelta(seconds=61)) == timedelta(seconds=120)
    # Sent again, and processed: the requeued task finds it as the first would have.
    assert sms_inbound_process(inbound_id=lost) == "replied"
    assert sms_inbound_requeue_stale(now=now + timedelta(days=1)) == 0
    # One that never gets processed is given up in the end, and its words leave the row.
    stuck = sms_inbound_store(message_sid="SM3", from_number=RAISER, to_number=TRUST_NUMBER, body="stuck", now=now)
    later = now
    for _ in range(3):
        later += timedelta(days=1)
        sms_inbound_requeue_stale(now=later, max_requeues=2)
    row = InboundSms.objects.get(pk=stuck)
    assert (row.requeues, row.payload) == (2, "")
    assert row.processed_at is not None


@pytest.mark.parametrize("form", ["+447700900555", "07700900555", "07700 900 555", "+44 7700 900555"])
def test_the_number_in_any_format_is_nowhere_outside_the_vault(demo: None, form: str) -> None:
    def dumped(table: str) -> str:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT * FROM {table}")
            return repr(cursor.fetchall())

    inbound_id = sms_inbound_store(message_sid="SM1", from_number=form, to_number=TRUST_NUMBER, body="Canary concern")
    tables = [m._meta.db_table for m in (Concern, Message, Delivery, InboundSms)]
    waiting = dumped(InboundSms._meta.db_table)  # stored, not yet processed: encrypted
    assert inbound_id is not None
    sms_inbound_process(inbound_id=inbound_id)
    guardian = get_user_model().objects.get(username="guardian")
    concern = Concern.objects.get()
    services.concern_message_to_raiser(concern_id=concern.pk, user=guardian, body="Thanks")
    for table, text_ in [*((t, dumped(t)) for t in tables), ("inbound, waiting", waiting)]:
        for canary in ("7700900555", "7700 900 555", "900555"):
            assert canary not in text_, (table, canary)
    with connection.cursor() as cursor:
        cursor.execute("SELECT number FROM concerns_vaultentry")
        (stored,) = cursor.fetchone()
    assert "7700900555" not in stored  # encrypted at rest even in the vault


@pytest.mark.django_db(transaction=True)
def test_two_first_texts_from_one_number_processed_at_once_raise_one_concern(demo: None) -> None:
    # Two workers take two texts from a new number at the same moment: one raises the concern, the
    # other adds to it. The rows are written as sms_inbound_store writes them, minus its task (this
    # test runs outside a test transaction, so a queued task would reach the broker).
    now = timezone.now()
    ids = [
        InboundSms.objects.create(
            message_sid=f"SM{i}",
            received_at=now,
            retry_at=now,
            payload=json.dumps({"from": RAISER, "to": TRUST_NUMBER, "body": f"part {i}"}),
        ).pk
        for i in range(2)
    ]
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def work(inbound_id: int) -> None:
        try:
            start.wait()
            outcomes.append(sms_inbound_process(inbound_id=inbound_id))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(inbound_id,)) for inbound_id in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert outcomes == ["replied", "replied"]
    assert Concern.objects.count() == 1
    assert Message.objects.count() == 1
