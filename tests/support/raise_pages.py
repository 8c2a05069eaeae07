"""Raising a concern through the web pages as a raiser would: the start page, a question a page, then
"check your answers" and Send. Tests that need a concern raised on the web call ``raise_on_the_web``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.http import HttpResponse
from django.test import Client

from frontend.raise_journey import MANY, STEPS


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
    for slug, data in _answers_by_page(body):
        page = client.get(f"/raise/{slug}/")
        response = client.post(f"/raise/{slug}/", {**data, **_token(page)})
        if response.status_code != 302:
            return response
    return None


def _answers_by_page(body: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each page that applies to ``body`` (the API's fields), with what its form sends."""
    answers = {"urgent": "false", **body}
    for step in STEPS:
        if not step.applies({"identity_mode": "anonymous", **answers}):
            continue
        yield step.slug, {name: _form_value(answers.get(name, [] if name in MANY else "")) for name in step.fields}


def _form_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


@dataclass
class WalkOverHttp:
    response: Any  # the page that refused an answer, or the answer to Send
    tokens: list[str] = field(default_factory=list)  # every CSRF token the walk was given


def raise_with_requests(session: Any, base: str, body: dict[str, Any]) -> WalkOverHttp:
    """The same walk over HTTP with a ``requests`` session (for tests against real gunicorn): each page's
    own CSRF token, and the page as the Referer, as a browser sends them."""
    walk = WalkOverHttp(response=None)

    def post(path: str, data: dict[str, Any], *, page_path: str | None = None) -> Any:
        page = session.get(f"{base}{page_path or path}", timeout=10)
        found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        assert found, f"no CSRF token on {page_path or path}"
        walk.tokens.append(found.group(1))
        return session.post(
            f"{base}{path}",
            headers={"Referer": f"{base}{page_path or path}"},
            data={"csrfmiddlewaretoken": found.group(1), **data},
            timeout=10,
            allow_redirects=False,
        )

    post("/raise/start/", {}, page_path="/raise/")
    for slug, data in _answers_by_page(body):
        walk.response = post(f"/raise/{slug}/", data)
        if walk.response.status_code != 302:
            return walk
    check = session.get(f"{base}/raise/check/", timeout=10)
    key = re.search(r'name="submission_key" value="([^"]+)"', check.text)
    walk.response = post("/raise/check/", {"submission_key": key.group(1) if key else ""}, page_path="/raise/check/")
    return walk
