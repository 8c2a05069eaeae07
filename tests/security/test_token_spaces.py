"""A member of staff's alert number and an SMS raiser's number never share a token (trust item 2).

The attack: a guardian texts a concern from the phone their alerts go to. With one token per number,
the outbox linked the anonymous concern to the guardian, the raiser's STOP silenced the guardian's
alerts, closing the concern deleted the guardian's number, and the stale-number purge deleted staff
numbers after 30 days. And a kept token turns back into a number for anyone with the pepper, by
trying every UK mobile, so tokens are forgotten once they are no longer needed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from backend.concerns import services
from backend.concerns.crypto import ContactSpace, contact_token
from backend.concerns.models import Concern, VaultEntry
from backend.concerns.sms import sms_inbound_process, sms_inbound_store
from backend.concerns.vault import vault_number_for_token, vault_purge_stale
from backend.organisations.services import staff_profile_update
from notifications.models import Delivery, DeliveryStatus
from notifications.services import delivery_status_advance

pytestmark = pytest.mark.django_db

PHONE = "+447700900666"  # the guardian's own mobile: their alerts, and a concern they text
TRUST_NUMBER = "+447700900101"  # RNX's number in the demo


def _text(body: str, sid: str) -> None:
    inbound_id = sms_inbound_store(message_sid=sid, from_number=PHONE, to_number=TRUST_NUMBER, body=body)
    assert inbound_id is not None
    sms_inbound_process(inbound_id=inbound_id)


@pytest.fixture
def guardian_who_texts(demo: None) -> tuple[str, Concern]:
    guardian = get_user_model().objects.get(username="guardian")
    profile = staff_profile_update(user=guardian, alert_channel="sms", mobile=PHONE)
    _text("The night rota is unsafe and nobody listens.", "SM-SPACE-1")
    return profile.sms_token, Concern.objects.get(channel="sms")


def test_the_same_number_has_unrelated_tokens_as_a_raiser_and_as_staff(guardian_who_texts) -> None:  # type: ignore[no-untyped-def]
    staff_token, concern = guardian_who_texts
    assert concern.contact_token == contact_token(PHONE, space=ContactSpace.RAISER)
    assert staff_token == contact_token(PHONE, space=ContactSpace.STAFF)
    assert staff_token != concern.contact_token
    assert set(VaultEntry.objects.values_list("space", flat=True)) == {"raiser", "staff"}
    # Nothing in the outbox ties the raiser's texts to the guardian's alerts.
    raiser_texts = set(Delivery.objects.filter(private=True).values_list("recipient", flat=True))
    staff_alerts = set(Delivery.objects.filter(channel="sms", private=False).values_list("recipient", flat=True))
    assert raiser_texts == {concern.contact_token}
    assert not raiser_texts & staff_alerts


def test_the_raisers_stop_does_not_silence_the_staff_alerts(guardian_who_texts) -> None:  # type: ignore[no-untyped-def]
    staff_token, concern = guardian_who_texts
    _text("STOP", "SM-SPACE-2")
    assert vault_number_for_token(concern.contact_token) is None  # the raiser hears nothing more
    assert vault_number_for_token(staff_token) == PHONE  # the guardian's alerts still go out


def test_closing_the_concern_forgets_its_token_and_keeps_the_staff_number(guardian_who_texts) -> None:  # type: ignore[no-untyped-def]
    staff_token, concern = guardian_who_texts
    guardian = get_user_model().objects.get(username="guardian")
    services.concern_acknowledge(concern_id=concern.pk, user=guardian)
    services.concern_close(concern_id=concern.pk, user=guardian, reason="resolved on the ward")
    # The raiser's number waits for their answer to the check-ins question; silence purges it.
    services.clocks_fire_due(now=timezone.now() + timedelta(days=8))
    concern.refresh_from_db()
    assert concern.contact_token == ""
    assert not VaultEntry.objects.filter(space="raiser").exists()
    assert vault_number_for_token(staff_token) == PHONE


def test_the_stale_number_purge_takes_raisers_numbers_only(guardian_who_texts) -> None:  # type: ignore[no-untyped-def]
    staff_token, concern = guardian_who_texts
    guardian = get_user_model().objects.get(username="guardian")
    services.concern_acknowledge(concern_id=concern.pk, user=guardian)
    services.concern_close(concern_id=concern.pk, user=guardian, reason="done")
    _text("HELP", "SM-SPACE-3")  # keeps the raiser's number for the reply, with no open concern
    assert VaultEntry.objects.filter(space="raiser").exists()

    purged = vault_purge_stale(now=timezone.now() + timedelta(days=31))

    assert purged == 1
    assert not VaultEntry.objects.filter(space="raiser").exists()
    assert vault_number_for_token(staff_token) == PHONE


def test_a_text_forgets_its_recipient_token_once_it_is_final(guardian_who_texts) -> None:  # type: ignore[no-untyped-def]
    _, concern = guardian_who_texts
    reply = Delivery.objects.get(private=True)
    assert reply.recipient == concern.contact_token  # needed until it is sent

    assert delivery_status_advance(delivery_id=reply.pk, status=DeliveryStatus.SENT)

    reply.refresh_from_db()
    assert (reply.recipient, reply.body) == ("", "")
