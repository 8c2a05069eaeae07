"""An unhandled error under /api/ answers {"detail": ...} with 500, with DEBUG off (production) and on,
and is still logged with its traceback and still reported (``got_request_exception`` is what Sentry's
Django integration hears; tests/integration/test_sentry.py follows one to a Sentry receiver). Pages
keep their HTML error page."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.signals import got_request_exception
from django.test import Client

from tests.api.broken_urls import FAILURE

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.api.broken_urls")]

DEBUG = pytest.mark.parametrize("debug", [False, True], ids=["debug-off", "debug-on"])


@pytest.fixture
def reported() -> Iterator[list[tuple[str, Any]]]:
    heard: list[tuple[str, Any]] = []

    def hear(sender: object, request: Any, **kwargs: object) -> None:
        heard.append((request.path, sys.exc_info()[1]))

    got_request_exception.connect(hear)
    yield heard
    got_request_exception.disconnect(hear)


def _logged(caplog: pytest.LogCaptureFixture) -> list[tuple[str, Any]]:
    return [
        (record.getMessage(), record.exc_info[1] if record.exc_info else None)
        for record in caplog.records
        if record.name == "django.request" and record.levelname == "ERROR"
    ]


@DEBUG
def test_an_unhandled_error_under_the_api_answers_json(
    settings: Any, caplog: pytest.LogCaptureFixture, reported: list[tuple[str, Any]], debug: bool
) -> None:
    settings.DEBUG = debug
    response = Client(raise_request_exception=False).get("/api/v1/broken/")

    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "A server error occurred."}
    [(message, exception)] = _logged(caplog)
    assert message == "Internal Server Error: /api/v1/broken/"
    assert isinstance(exception, RuntimeError)
    assert str(exception) == FAILURE  # the traceback is in the log
    [(path, heard)] = reported
    assert path == "/api/v1/broken/"
    assert heard is exception


@DEBUG
def test_a_page_keeps_its_html_error_page(
    settings: Any, caplog: pytest.LogCaptureFixture, reported: list[tuple[str, Any]], debug: bool
) -> None:
    settings.DEBUG = debug
    response = Client(raise_request_exception=False).get("/broken/")

    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html")
    assert [message for message, _ in _logged(caplog)] == ["Internal Server Error: /broken/"]
    assert [path for path, _ in reported] == ["/broken/"]


def test_an_answer_of_the_api_is_left_as_it_is() -> None:
    response = Client().get("/api/v1/nowhere/")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}
