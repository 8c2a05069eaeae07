"""The raiser's and the handler's journeys through the pages, without JavaScript."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from backend.concerns.models import Concern, Message
from tests.support.concern_bodies import concern_body
from tests.support.raise_pages import raise_on_the_web
from tests.support.sign_in import sign_in

pytestmark = pytest.mark.django_db

FORM = concern_body(what_happened="Told to stop complaining or lose my shifts.")


def _raise_and_open(raiser: Client) -> tuple[str, str]:
    html = raise_on_the_web(raiser, FORM).content.decode()
    reference = re.search(r'data-testid="reference">([^<]+)<', html).group(1)  # type: ignore[union-attr]
    receipt = re.search(r'data-testid="receipt">([^<]+)<', html).group(1)  # type: ignore[union-attr]
    opened = raiser.post("/follow-up/", {"receipt": receipt})
    assert opened.status_code == 302
    assert opened["Location"] == "/follow-up/concern/"
    return reference, receipt


def test_raiser_and_guardian_talk_until_feedback_and_the_raiser_answers(demo: None) -> None:
    raiser = Client()
    reference, _ = _raise_and_open(raiser)
    page = raiser.get("/follow-up/concern/")
    assert page.status_code == 200
    assert reference in page.content.decode()
    # A short-lived session, not a lasting cookie.
    assert 0 < raiser.session.get_expiry_age() <= 30 * 60

    assert (
        raiser.post("/follow-up/concern/message/", {"kind": "detriment", "body": "My shifts were cut."}).status_code
        == 302
    )
    assert raiser.post("/follow-up/concern/message/", {"kind": "message", "body": ""}).status_code == 400

    guardian = Client()
    sign_in(guardian, "guardian")
    case = guardian.get(f"/inbox/{reference}/").content.decode()
    assert "My shifts were cut." in case
    assert "treated badly for speaking up" in case
    for action, data in [
        ("acknowledge", {}),
        ("assign", {"handler": "handler"}),
        ("message", {"text": "We are sorry. Which ward manager?"}),
        ("start_review", {}),
        ("give_feedback", {"text": "The manager has been spoken to and rotas are now set centrally."}),
    ]:
        response = guardian.post(f"/inbox/{reference}/{action}/", data)
        assert response.status_code == 302, (action, response.content[:500])
    assert guardian.post(f"/inbox/{reference}/message/", {"text": ""}).status_code == 400
    assert guardian.post(f"/inbox/{reference}/no-such-move/", {}).status_code == 404

    status = raiser.get("/follow-up/concern/").content.decode()
    assert "rotas are now set centrally" in status
    assert "would you speak up again?" in status
    assert raiser.post("/follow-up/concern/speak-up-again/", {"answer": "yes"}).status_code == 302
    assert raiser.post("/follow-up/concern/speak-up-again/", {"answer": "no"}).status_code == 409
    concern = Concern.objects.get(reference=reference)
    assert (concern.state, concern.would_speak_up_again, concern.detriment_reported) == ("feedback_given", "yes", True)
    assert Message.objects.filter(concern=concern).count() == 3

    # The handler it was placed with sees it; the handler may not close it (guardian only): refused as
    # the role's move, 403, whatever the concern's state.
    handler = Client()
    sign_in(handler, "handler")
    assert reference in handler.get("/inbox/").content.decode()
    assert handler.post(f"/inbox/{reference}/close/", {"text": "done"}).status_code == 403


def test_the_raiser_withdraws_only_after_confirming(demo: None) -> None:
    raiser = Client()
    reference, _ = _raise_and_open(raiser)
    assert raiser.post("/follow-up/concern/withdraw/", {}).status_code == 400
    assert Concern.objects.get(reference=reference).state == "received"
    assert raiser.post("/follow-up/concern/withdraw/", {"confirm": "yes"}).status_code == 302
    assert Concern.objects.get(reference=reference).state == "withdrawn"
    assert raiser.post("/follow-up/concern/message/", {"body": "hello"}).status_code == 409


def test_follow_up_pages_need_a_receipt_first(demo: None) -> None:
    client = Client()
    assert client.get("/follow-up/concern/")["Location"] == "/follow-up/"
    assert client.post("/follow-up/concern/message/", {"body": "x"})["Location"] == "/follow-up/"


def test_the_case_page_names_themes_in_words(demo: None) -> None:
    reference, _ = _raise_and_open(Client())
    guardian = Client()
    sign_in(guardian, "guardian")
    html = guardian.get(f"/inbox/{reference}/").content.decode()
    themes = re.search(r"Themes</dt><dd[^>]*>([^<]+)<", html)
    assert themes is not None and themes.group(1).strip() == "Bullying or harassment"
    assert "bullying," not in html and ">bullying<" not in html
