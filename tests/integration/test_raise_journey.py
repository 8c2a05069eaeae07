"""Raising a concern a question a page: the answers travel encrypted in the session and nowhere else,
no concern exists before Send, and the answers are gone once sent or abandoned."""

from __future__ import annotations

import pytest
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client

from backend.concerns.inputs import ConcernRaiseInput
from backend.concerns.models import Concern, Event
from frontend.raise_journey import ANSWERS_SECONDS, STEPS
from tests.support.concern_bodies import concern_body
from tests.support.raise_pages import answer_every_question, journey_begin, raise_on_the_web, submission_key_on
from tests.support.sign_in import sign_in

pytestmark = pytest.mark.django_db

CANARY = "JOURNEY-CANARY-4b1e the charge nurse on nights"


def _every_text_column_holds(needle: str) -> list[str]:
    """Every table and text column whose stored value contains ``needle``."""
    found = []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND data_type IN ('text', 'character varying', 'jsonb', 'json')"
        )
        for table, column in cursor.fetchall():
            cursor.execute(f'SELECT 1 FROM "{table}" WHERE "{column}"::text LIKE %s LIMIT 1', [f"%{needle}%"])
            if cursor.fetchone():
                found.append(f"{table}.{column}")
    return found


def test_answers_are_kept_encrypted_in_the_session_and_no_concern_exists_before_send(demo: None) -> None:
    client = Client()
    assert answer_every_question(client, concern_body(what_happened=CANARY, raiser_name="")) is None
    assert Concern.objects.count() == 0 and Event.objects.count() == 0
    session = Session.objects.get(session_key=client.session.session_key)
    assert "raise_answers" in session.get_decoded()
    assert _every_text_column_holds("JOURNEY-CANARY") == [], "the answers are never stored in plain text"
    # The session ends an hour after the last answer.
    assert 0 < client.session.get_expiry_age() <= ANSWERS_SECONDS
    check = client.get("/raise/check/")
    assert CANARY in check.content.decode()  # shown back to the raiser to check
    sent = client.post("/raise/check/", {"submission_key": submission_key_on(check)})
    assert sent.status_code == 200 and Concern.objects.count() == 1
    # Sent: the session that held the answers is gone, and nothing is left to send again.
    assert not Session.objects.filter(session_key=session.session_key).exists()
    assert client.get("/raise/check/").status_code == 302


def test_stop_and_delete_my_answers_deletes_them(demo: None) -> None:
    client = Client()
    assert answer_every_question(client, concern_body(what_happened=CANARY)) is None
    key = client.session.session_key
    page = client.post("/raise/cancel/")
    assert page.status_code == 200 and "Your answers have been deleted" in page.content.decode()
    assert not Session.objects.filter(session_key=key).exists()
    assert client.get("/raise/what-happened/")["Location"] == "/raise/"
    assert Concern.objects.count() == 0


def test_each_page_checks_its_own_answer_and_says_what_is_wrong(demo: None) -> None:
    client = Client()
    journey_begin(client)
    refused = client.post("/raise/who/", {"raiser_kind": "robot"})
    assert refused.status_code == 400 and "There is a problem" in refused.content.decode()
    assert client.post("/raise/who/", {"raiser_kind": "carer"})["Location"] == "/raise/where/"
    assert client.post("/raise/where/", {"unit": "NOPE"}).status_code == 400
    assert client.post("/raise/about/", {}).status_code == 400
    # A question not yet reached cannot be skipped to "check your answers": it asks the first one missing.
    assert client.get("/raise/check/")["Location"] == "/raise/where/"
    assert client.get("/raise/nonsense/").status_code == 404


def test_changing_an_answer_comes_back_to_check_and_anonymity_drops_the_name(demo: None) -> None:
    client = Client()
    named = concern_body(identity_mode="named", raiser_name="Sam Raiser", raiser_contact="sam@example.invalid")
    assert answer_every_question(client, named) is None
    assert "Sam Raiser" in client.get("/raise/check/").content.decode()
    back = client.post("/raise/name/", {"identity_mode": "anonymous", "change": "1"})
    assert back["Location"] == "/raise/check/"
    page = client.get("/raise/check/").content.decode()
    assert "Sam Raiser" not in page and "sam@example.invalid" not in page
    # Named again: the name is asked for, then back to check.
    assert client.post("/raise/name/", {"identity_mode": "named", "change": "1"})["Location"] == (
        "/raise/contact/?change=1"
    )
    assert client.post("/raise/contact/", {"raiser_name": "", "change": "1"}).status_code == 400
    assert client.post("/raise/contact/", {"raiser_name": "Sam", "change": "1"})["Location"] == "/raise/check/"
    sent = client.post("/raise/check/", {"submission_key": submission_key_on(client.get("/raise/check/"))})
    assert sent.status_code == 200
    assert Concern.objects.get().raiser_name == "Sam"


def test_a_signed_in_member_of_staff_is_signed_out_on_starting(demo: None) -> None:
    client = Client()
    sign_in(client, "guardian")
    staff_session = client.session.session_key
    journey_begin(client)
    assert client.session.session_key != staff_session
    assert not Session.objects.filter(session_key=staff_session).exists()
    assert client.get("/inbox/").status_code == 302  # signed out
    response = raise_on_the_web(client, concern_body(), begin=False)
    assert response.status_code == 200


def test_the_journey_asks_every_field_the_api_takes_from_a_raiser(demo: None) -> None:
    asked = {field for step in STEPS for field in step.fields}
    assert set(ConcernRaiseInput().fields) - asked == {"submission_key"}
