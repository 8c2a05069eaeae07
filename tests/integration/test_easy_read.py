"""The easy-read journey: linked from the start page, the same questions in short sentences, one idea a
line, and the same concern at the end (checked by the same rules as the standard pages)."""

from __future__ import annotations

import pytest
from django.test import Client

from backend.concerns.models import Concern
from frontend.easy_read import RECEIPT_LINES, START_LINES, STEP_WORDS
from frontend.raise_journey import STEPS
from tests.support.concern_bodies import concern_body
from tests.support.raise_pages import answer_every_question, submission_key_on

pytestmark = pytest.mark.django_db


def test_the_start_page_links_the_easy_read_version_which_says_one_idea_a_line(demo: None) -> None:
    start = Client().get("/raise/").content.decode()
    assert 'href="/raise/easy-read/"' in start
    easy = Client().get("/raise/easy-read/")
    assert easy.status_code == 200
    page = easy.content.decode()
    for line in START_LINES:
        assert f'<p class="nhsuk-body-l">{line}</p>' in page
    assert 'name="easy_read" value="1"' in page
    # Short sentences: no line of the start page runs past two sentences or 80 characters.
    assert all(len(str(line)) <= 80 and str(line).count(". ") <= 1 for line in START_LINES)


def test_every_question_has_easy_words_and_an_easy_read_concern_is_the_same_concern(demo: None) -> None:
    assert {step.slug for step in STEPS} <= set(STEP_WORDS), "a question without easy-read words"
    client = Client()
    client.post("/raise/start/", {"easy_read": "1"})
    who = client.get("/raise/who/").content.decode()
    assert "I am a patient" in who and "I look after someone, or I am family" in who
    assert "Member of staff" not in who  # "I work in health or care" instead
    where = client.get("/raise/where/").content.decode()
    assert "Where did it happen?" in where and "Choose the ward or team.<br>" in where

    body = concern_body(raiser_kind="carer", themes=["patient_safety", "behaviour"])
    assert answer_every_question(client, body, begin=False) is None
    check = client.get("/raise/check/")
    words = check.content.decode()
    assert "Where did it happen?" in words and "Someone was rude or unkind" in words
    assert "Then you get a code." in words
    receipt = client.post("/raise/check/", {"submission_key": submission_key_on(check)})
    assert receipt.status_code == 200
    for line in RECEIPT_LINES:
        assert str(line).replace("'", "&#x27;") in receipt.content.decode()
    concern = Concern.objects.latest("pk")
    assert (concern.raiser_kind, concern.themes, concern.unit.code) == (
        "carer",
        ["behaviour", "patient_safety"],
        "RNX07",
    )


def test_the_standard_journey_keeps_its_own_words(demo: None) -> None:
    client = Client()
    assert answer_every_question(client, concern_body()) is None
    check = client.get("/raise/check/")
    assert "Which ward or team is your concern about?" in check.content.decode()
    assert "Then you get a code." not in check.content.decode()
    receipt = client.post("/raise/check/", {"submission_key": submission_key_on(check)}).content.decode()
    assert str(RECEIPT_LINES[2]) not in receipt
    assert "If you lose your receipt code" in receipt and "We will show it only once" in receipt
