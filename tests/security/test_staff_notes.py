"""Staff-only notes (issue 16, item 3): kept apart from the conversation with the raiser, encrypted
like the narrative, each an Event of the audit chain, readable only by those who see the whole case.
A note never reaches the raiser's follow-up page or API, the SMS channel (a local fake Twilio), the
escalation packet or any view upstream."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token

from backend.concerns import services
from backend.concerns.audit import BrokenLink, audit_verify
from backend.concerns.crypto import ContactSpace, contact_token
from backend.concerns.models import Concern, Event, Message, Reason
from backend.concerns.sms import sms_inbound_process, sms_inbound_store
from backend.organisations.demo import USERS
from notifications.models import Delivery
from notifications.services import delivery_send
from tests.support.concern_bodies import concern_body
from tests.support.fake_twilio import FakeTwilio, channel_settings
from tests.support.sign_in import staff_client

pytestmark = pytest.mark.django_db

NOTE = "NOTE-CANARY: HR says the ward manager is the brother of the rota lead"
MESSAGE = "MESSAGE-CANARY: which nights were short?"
ROLES = [username for username, _, _ in USERS]
RAISER = "+447700900777"
TRUST_NUMBER = "+447700900101"  # RNX in the demo


def _user(username: str) -> User:
    return get_user_model().objects.get(username=username)


def _api(username: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=_user(username))[0].key}")


def _raised_on_the_web() -> tuple[Concern, str]:
    answer = Client().post("/api/v1/concerns/raise/", json.dumps(concern_body()), content_type="application/json")
    assert answer.status_code == 201
    return Concern.objects.get(reference=answer.json()["reference"]), answer.json()["receipt"]


def _note_and_message(concern: Concern, username: str = "guardian") -> None:
    response = _api(username).post(
        f"/api/v1/concerns/{concern.reference}/notes/", json.dumps({"note": NOTE}), content_type="application/json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["audience"] == "staff"
    services.concern_message_to_raiser(concern_id=concern.pk, user=_user(username), body=MESSAGE)


def test_a_note_is_an_event_with_its_words_encrypted_beside_it(demo: None) -> None:
    concern, _ = _raised_on_the_web()
    _note_and_message(concern)
    event = Event.objects.get(concern=concern, kind="staff_note")
    assert (event.visible_to_raiser, event.actor_role, event.actor_id) == (False, "guardian", _user("guardian").pk)
    assert "words" in event.data and NOTE not in json.dumps(event.data)
    # The words are a Reason of that link, and the column holds ciphertext, not the note.
    assert Reason.objects.get(concern=concern, seq=event.seq).text == NOTE
    with connection.cursor() as cursor:
        cursor.execute("SELECT text FROM concerns_reason WHERE concern_id = %s", [concern.pk])
        raw = [row[0] for row in cursor.fetchall()]
    assert raw and all("NOTE-CANARY" not in value for value in raw)
    # Nothing about the note is a message, and the chain (with the note's digest) verifies.
    assert not Message.objects.filter(concern=concern, body__contains="NOTE-CANARY").exists()
    assert not [x for x in audit_verify() if isinstance(x, BrokenLink)]
    Reason.objects.filter(concern=concern, seq=event.seq).update(text="an edited note")
    assert [x.reason for x in audit_verify() if isinstance(x, BrokenLink)] == ["reason edited"]


def test_those_handling_it_read_notes_by_api_and_on_the_case_page(demo: None) -> None:
    concern, _ = _raised_on_the_web()
    _note_and_message(concern)
    listed = _api("guardian").get(f"/api/v1/concerns/{concern.reference}/notes/")
    assert listed.status_code == 200
    assert [(n["note"], n["audience"]) for n in listed.json()] == [(NOTE, "staff")]
    page = staff_client("guardian").get(f"/inbox/{concern.reference}/").content.decode()
    assert NOTE in page
    # The note sits in a yellow warning callout; the message in the conversation's white card.
    note_at, message_at = page.index(NOTE), page.index(MESSAGE)
    assert page.rfind("nhsuk-warning-callout", 0, note_at) > page.rfind("nhsuk-card", 0, note_at)
    assert page.rfind("nhsuk-card", 0, message_at) > page.rfind("nhsuk-warning-callout", 0, message_at)


def test_the_case_page_keeps_the_note_form_apart_from_the_message_form(demo: None) -> None:
    concern, _ = _raised_on_the_web()
    client = staff_client("guardian")
    page = client.get(f"/inbox/{concern.reference}/").content.decode()
    note_form = page[page.index(f"/inbox/{concern.reference}/note/") :]
    note_form = note_form[: note_form.index("</form>")]
    assert 'name="note"' in note_form and 'name="text"' not in note_form
    assert "Staff note: the raiser will never see this" in page
    assert "Message to the raiser: the raiser will read this" in page
    # A note written on the page is a note: an Event and no Message, nothing in the outbox.
    before = (Message.objects.count(), Delivery.objects.count())
    assert client.post(f"/inbox/{concern.reference}/note/", {"note": NOTE}).status_code == 302
    assert (Message.objects.count(), Delivery.objects.count()) == before
    assert Event.objects.filter(concern=concern, kind="staff_note").count() == 1
    # The message form's field does not write a note: it is refused, not sent anywhere.
    assert client.post(f"/inbox/{concern.reference}/note/", {"text": NOTE}).status_code == 400
    assert Event.objects.filter(concern=concern, kind="staff_note").count() == 1


def test_a_note_never_reaches_the_raisers_follow_up_page_or_api(demo: None) -> None:
    concern, receipt = _raised_on_the_web()
    _note_and_message(concern)
    api = Client().post("/api/v1/follow-up/", json.dumps({"receipt": receipt}), content_type="application/json")
    assert api.status_code == 200
    raiser = Client()
    assert raiser.post("/follow-up/", {"receipt": receipt}).status_code == 302
    page = raiser.get("/follow-up/concern/")
    assert page.status_code == 200
    for seen in (api.content.decode(), page.content.decode()):
        assert MESSAGE in seen  # the raiser's view does hold what was written to them
        assert "NOTE-CANARY" not in seen
        assert "staff_note" not in seen and "Staff note" not in seen
    assert "staff_note" not in [entry["kind"] for entry in api.json()["timeline"]]


@pytest.fixture
def twilio(settings: Any) -> Iterator[FakeTwilio]:
    with FakeTwilio(account_sid="ACfake", auth_token="fake-token") as server:
        channel_settings(settings, server)
        yield server


def test_a_note_never_goes_out_by_sms(demo: None, twilio: FakeTwilio) -> None:
    inbound = sms_inbound_store(
        message_sid="SMnote1", from_number=RAISER, to_number=TRUST_NUMBER, body="Ward 7 short again"
    )
    assert inbound is not None
    sms_inbound_process(inbound_id=inbound)
    concern = Concern.objects.get(channel="sms")
    _note_and_message(concern)
    to_raiser = Delivery.objects.filter(channel="sms", recipient=contact_token(RAISER, space=ContactSpace.RAISER))
    assert not [d for d in to_raiser if "NOTE-CANARY" in d.body]
    for delivery in to_raiser:
        delivery_send(delivery_id=delivery.pk)
    sent = list(twilio.bodies_held().values())
    assert any("MESSAGE-CANARY" in body for body in sent)  # the SMS channel does carry messages
    assert not [body for body in sent if "NOTE-CANARY" in body]
    assert not [d for d in Delivery.objects.all() if "NOTE-CANARY" in d.body]


def _escalated_to_the_icb_with_a_note() -> Concern:
    """Raised on ward 7, a note and a message at the trust, escalated by hand twice, then by the
    sweep (the board never acknowledged it) to the integrated care board."""
    concern, _ = _raised_on_the_web()
    _note_and_message(concern)
    guardian = _user("guardian")
    services.concern_acknowledge(concern_id=concern.pk, user=guardian)
    services.concern_escalate_by_guardian(concern_id=concern.pk, user=guardian, reason="Ward manager conflicted.")
    services.concern_escalate_by_guardian(concern_id=concern.pk, user=guardian, reason="The trust is conflicted.")
    services.clocks_fire_due(now=timezone.now() + timedelta(days=8))
    concern.refresh_from_db()
    assert (concern.holder.code, concern.route_level) == ("QNX", 3)
    return concern


@pytest.mark.parametrize("username", ROLES)
def test_a_note_never_reaches_the_packet_or_any_upstream_view(demo: None, username: str) -> None:
    concern = _escalated_to_the_icb_with_a_note()
    ref = concern.reference
    api, page = _api(username), staff_client(username)
    seen = {
        "detail": api.get(f"/api/v1/concerns/{ref}/"),
        "notes": api.get(f"/api/v1/concerns/{ref}/notes/"),
        "list": api.get("/api/v1/concerns/"),
        "oversight": api.get("/api/v1/oversight/concerns/"),
        "public": api.get(f"/api/v1/public/concerns/{ref}/"),
        "alerts": api.get("/api/v1/alerts/"),
        "case page": page.get(f"/inbox/{ref}/"),
        "inbox": page.get("/inbox/"),
        "alerts page": page.get("/oversight/alerts/"),
        "dashboard": page.get("/oversight/"),
    }
    if username == "guardian":
        # The trust's guardian keeps the whole case, its notes with it.
        assert seen["detail"].json()["view"] == "case"
        assert [n["note"] for n in seen["notes"].json()] == [NOTE]
        assert NOTE in seen["case page"].content.decode()
        return
    for where, response in seen.items():
        assert "NOTE-CANARY" not in response.content.decode(), f"{username} sees the note in {where}"
    if username == "icb-guardian":
        # The body it was escalated to sees the packet, which leaves notes out altogether.
        packet = seen["detail"].json()
        assert packet["view"] == "packet"
        assert "staff_note" not in [h["kind"] for h in packet["history"]]
        assert seen["notes"].status_code == 403
        assert "Staff notes" not in seen["case page"].content.decode()
        words = json.dumps({"note": "upstream words"})
        refused = api.post(f"/api/v1/concerns/{ref}/notes/", words, content_type="application/json")
        assert refused.status_code == 403
        assert page.post(f"/inbox/{ref}/note/", {"note": "upstream words"}).status_code == 403
    else:
        assert seen["notes"].status_code == 404
    assert Event.objects.filter(concern=concern, kind="staff_note").count() == 1


def test_no_note_on_an_ended_concern_and_none_without_words(demo: None) -> None:
    concern, _ = _raised_on_the_web()
    guardian = _api("guardian")
    url = f"/api/v1/concerns/{concern.reference}/notes/"
    assert guardian.post(url, json.dumps({"note": "   "}), content_type="application/json").status_code == 400
    assert guardian.post(url, json.dumps({"body": NOTE}), content_type="application/json").status_code == 400
    services.concern_acknowledge(concern_id=concern.pk, user=_user("guardian"))
    services.concern_close(concern_id=concern.pk, user=_user("guardian"), reason="Resolved locally.")
    assert guardian.post(url, json.dumps({"note": NOTE}), content_type="application/json").status_code == 409
    assert not Event.objects.filter(concern=concern, kind="staff_note").exists()
