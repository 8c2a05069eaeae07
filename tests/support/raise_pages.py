"""Raising a concern through the web pages as a raiser would: the start page, a question a page, then
"check your answers" and Send. Tests that need a concern raised on the web call ``raise_on_the_web``."""

from __future__ import annotations

import re
from typing import Any

from django.http import HttpResponse
from django.test import Client

from frontend.raise_journey import STEPS


def _token(page: HttpResponse) -> dict[str, str]:
    """The page's CSRF token, so the walk works for a client that checks it as a browser would."""
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())
    return {"csrfmiddlewaretoken": found.group(1)} if found else {}


def journey_begin(client: Client) -> HttpResponse:
    return client.post("/raise/start/", _token(client.get("/raise/")))


def raise_on_the_web(client: Client, body: dict[str, Any], *, begin: bool = True) -> HttpResponse:
    """Answer every question that applies from ``body`` (the API's fields) and send. Returns the first
    answer that was not a redirect to the next page: a page's 400 with its errors, or the receipt."""
    refused = answer_every_question(client, body, begin=begin)
    if refused is not None:
        return refused
    check = client.get("/raise/check/")
    if check.status_code != 200:
        return check
    return client.post("/raise/check/", {"submission_key": submission_key_on(check), **_token(check)})


def submission_key_on(page: HttpResponse) -> str:
    key = re.search(r'name="submission_key" value="([^"]+)"', page.content.decode())
    return key.group(1) if key else ""


def answer_every_question(client: Client, body: dict[str, Any], *, begin: bool = True) -> HttpResponse | None:
    """Answer each page from ``body``; None when all were accepted, else the page that refused."""
    if begin:
        journey_begin(client)
    answers = {**body}
    answers.setdefault("urgent", "false")
    for step in STEPS:
        if step.slug == "contact" and answers.get("identity_mode", "anonymous") == "anonymous":
            continue
        data = {field: _form_value(answers.get(field, "")) for field in step.fields}
        page = client.get(f"/raise/{step.slug}/")
        response = client.post(f"/raise/{step.slug}/", {**data, **_token(page)})
        if response.status_code != 302:
            return response
    return None


def _form_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value
