"""Sessions: a raiser's follow-up never shares a session with a staff identity, expired sessions are
cleared on a schedule, and the CSRF cookie lives no longer than a session."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from backend.config.celery import app
from tests.support.concern_bodies import concern_body
from tests.support.raise_pages import raise_on_the_web
from tests.support.sign_in import sign_in
from workflows.tasks import sessions_clear_expired_task

pytestmark = pytest.mark.django_db


def _receipt() -> str:
    html = raise_on_the_web(Client(), concern_body(what_happened="The night rota leaves one nurse.")).content.decode()
    return re.search(r'data-testid="receipt">([^<]+)<', html).group(1)  # type: ignore[union-attr]


def test_a_staff_session_is_signed_out_before_it_follows_up_a_receipt(demo: None) -> None:
    browser = Client()
    sign_in(browser, "guardian")
    staff_key = browser.session.session_key
    assert browser.get("/inbox/").status_code == 200

    opened = browser.post("/follow-up/", {"receipt": _receipt()})
    assert opened.status_code == 302
    assert opened["Location"] == "/follow-up/concern/"
    session = browser.session
    assert "_auth_user_id" not in session
    assert session.session_key != staff_key
    assert not Session.objects.filter(session_key=staff_key).exists()  # flushed, not carried over
    assert browser.get("/follow-up/concern/").status_code == 200
    assert browser.get("/inbox/").status_code == 302  # signed out: staff pages send it to sign in


def test_a_wrong_receipt_leaves_a_staff_session_alone(demo: None) -> None:
    browser = Client()
    sign_in(browser, "guardian")
    assert browser.post("/follow-up/", {"receipt": "not-a-receipt"}).status_code == 400
    assert browser.get("/inbox/").status_code == 200


def _session(*, expires_in: timedelta) -> str:
    store = SessionStore()
    store["seen"] = True
    store.set_expiry(timezone.now() + expires_in)
    store.create()
    assert store.session_key is not None
    return store.session_key


def test_beat_clears_expired_sessions() -> None:
    entry: dict[str, Any] = settings.CELERY_BEAT_SCHEDULE["sessions-clear-expired"]
    assert entry["task"] == "workflows.tasks.sessions_clear_expired"
    assert entry["schedule"] <= 60 * 60
    task = app.tasks[entry["task"]]  # the name beat sends is a task a worker knows
    assert task.name == sessions_clear_expired_task.name

    expired, live = _session(expires_in=-timedelta(minutes=1)), _session(expires_in=timedelta(minutes=30))
    task.apply()
    assert set(Session.objects.values_list("session_key", flat=True)) == {live}
    assert expired != live


def test_the_csrf_cookie_lives_no_longer_than_a_session(demo: None) -> None:
    assert 0 < settings.CSRF_COOKIE_AGE <= settings.SESSION_COOKIE_AGE
    cookie = Client().get("/raise/").cookies[settings.CSRF_COOKIE_NAME]
    assert 0 < int(cookie["max-age"]) <= settings.SESSION_COOKIE_AGE
