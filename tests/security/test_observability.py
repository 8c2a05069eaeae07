"""Observability without exposure: /metrics for the bearer token only, JSON log lines with a request
id, and neither holding anything of a raiser.

The canaries are test_canaries.py's own (its narrative, phone number, forwarded address, client
address and user agent), planted by an anonymous raise through the pages; the raise's notices are
then sent as a worker would. Every log line of all that, formatted by the JSON formatter the
settings configure, and the scrape of /metrics, are searched for them; each search is checked to
have found what it should (the request's id, the gauges), so none passes empty.
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from celery import current_app
from django.conf import settings
from django.test import Client
from django.utils import timezone
from pythonjsonlogger.json import JsonFormatter

import notifications.tasks  # noqa: F401  (registers the tasks run below by name)
from backend.concerns.models import Concern
from backend.config.request_id import RequestIdFilter
from notifications.channels import locmem
from tests.security.test_canaries import (
    CLIENT_ADDRESS,
    CONFLICT_WORDS,
    FORWARDED_ADDRESS,
    NUMBER_FORMS,
    SMS_NUMBER,
    USER_AGENT,
    WEB_NARRATIVE,
)
from tests.support.concern_bodies import concern_body
from tests.support.raise_pages import raise_on_the_web
from tests.support.sent_tasks import tasks_sent

pytestmark = pytest.mark.django_db

TOKEN = "metrics-token-for-tests-0123456789"
NARRATIVE = f"{WEB_NARRATIVE}; ring me on {SMS_NUMBER}"
LOCMEM = "notifications.channels.locmem.LocmemChannel"
REQUEUE_TASK = "notifications.tasks.deliveries_requeue_stale"


@pytest.fixture(autouse=True)
def _metrics_token(settings: Any) -> Iterator[None]:
    settings.CANDOUR_METRICS_TOKEN = TOKEN
    settings.NOTIFICATIONS_CHANNELS = {"email": LOCMEM, "sms": LOCMEM, "in_app": LOCMEM}
    locmem.reset()
    yield
    locmem.reset()


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """Every record of every logger, at DEBUG, through the JSON formatter and the request-id filter
    that settings.LOGGING configures."""
    config = {k: v for k, v in settings.LOGGING["formatters"]["json"].items() if k != "()"}
    assert settings.LOGGING["formatters"]["json"]["()"] == "pythonjsonlogger.json.JsonFormatter"
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter(**config))
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield out
    root.removeHandler(handler)
    root.setLevel(level)


def _scrape(client: Client, token: str | None = TOKEN) -> Any:
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token is not None else {}
    return client.get("/metrics", **headers)


def _gauge(text: str, name: str) -> float:
    found = re.search(rf"^{name} ([0-9.e+]+)$", text, re.MULTILINE)
    assert found, f"no {name} in the scrape"
    return float(found.group(1))


def test_metrics_answer_only_the_bearer_token(client: Client, settings: Any) -> None:
    assert _scrape(client, token=None).status_code == 403
    assert _scrape(client, token="wrong").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION=TOKEN).status_code == 403  # not "Bearer"
    settings.CANDOUR_METRICS_TOKEN = ""
    assert _scrape(client, token="").status_code == 403  # unset: no one, not even an empty token
    settings.CANDOUR_METRICS_TOKEN = TOKEN
    response = _scrape(client)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    text = response.content.decode()
    for name in (
        "candour_deliveries_waiting",
        "candour_deliveries_given_up_7d",
        "candour_clock_lag_seconds",
        "candour_oldest_unanswered_concern_seconds",
        "django_http_requests_total_by_method_total",
    ):
        assert f"\n{name}" in text, name


def test_the_gauges_follow_the_work(client: Client, demo: None) -> None:
    with tasks_sent():
        raised = raise_on_the_web(Client(), concern_body())
    assert raised.status_code == 200
    concern = Concern.objects.latest("pk")
    text = _scrape(client).content.decode()
    assert _gauge(text, 'candour_deliveries_waiting{status="pending"}') >= 1  # its notices, unsent
    assert _gauge(text, "candour_clock_lag_seconds") == 0  # nothing due yet
    ack = concern.clocks.get(kind="acknowledge")
    # A day after the acknowledgement fell due, still unacknowledged and the sweep not run: the
    # concern has waited since it came, and the clock is a day late.
    later = ack.due_at + timedelta(days=1)
    with time_machine.travel(later, tick=False):
        text = _scrape(client).content.decode()
    assert _gauge(text, "candour_oldest_unanswered_concern_seconds") == (later - concern.received_at).total_seconds()
    assert _gauge(text, "candour_clock_lag_seconds") == timedelta(days=1).total_seconds()


def test_the_request_id_is_a_proxys_uuid_or_a_fresh_one(client: Client, json_log: io.StringIO) -> None:
    offered = "3f2b8c1e-9a4d-4e7b-8c2a-1d5e6f7a8b9c"
    assert client.get("/healthz", HTTP_X_REQUEST_ID=offered)["X-Request-ID"] == offered
    for unsafe in ("Alice Smith", SMS_NUMBER, "x" * 300, "../../etc", "0123456789abcdef\nforged"):
        given = client.get("/healthz", HTTP_X_REQUEST_ID=unsafe)["X-Request-ID"]
        assert given != unsafe and re.fullmatch(r"[0-9a-f]{32}", given)
    assert client.get("/healthz")["X-Request-ID"] != client.get("/healthz")["X-Request-ID"]


def test_no_canary_in_the_json_logs_or_the_metrics(
    client: Client, demo: None, json_log: io.StringIO, django_capture_on_commit_callbacks: Any
) -> None:
    raiser = Client(HTTP_USER_AGENT=USER_AGENT, HTTP_X_FORWARDED_FOR=FORWARDED_ADDRESS, REMOTE_ADDR=CLIENT_ADDRESS)
    body = concern_body(themes=["behaviour"], what_happened=NARRATIVE, not_to_handle=CONFLICT_WORDS)
    with tasks_sent() as sent, django_capture_on_commit_callbacks(execute=True):
        response = raise_on_the_web(raiser, body)
    assert response.status_code == 200, response.content[:300]
    receipt = re.search(r'data-testid="receipt">([^<]+)<', response.content.decode())
    assert receipt
    request_id = response["X-Request-ID"]
    # The worker's share: the notices the raise wrote (an anonymous raiser's wait past the hour),
    # sent by the requeue sweep two hours on, as beat and a worker would.
    with time_machine.travel(timezone.now() + timedelta(hours=2), tick=False):
        sent.append((REQUEUE_TASK, []))
        while sent:
            name, args = sent.pop(0)
            with tasks_sent() as more, django_capture_on_commit_callbacks(execute=True):
                current_app.tasks[name].apply(args=args, throw=True)
            sent += more
    assert locmem.outbox, "the raise's notices were sent"
    scrape = _scrape(client).content.decode()

    lines = [json.loads(line) for line in json_log.getvalue().splitlines() if line.strip()]
    assert lines and all({"time", "level", "logger", "message", "request_id"} <= set(line) for line in lines)
    assert any(line["request_id"] == request_id for line in lines), "the raise's own lines carry its id"
    assert any(line["logger"].startswith("notifications") for line in lines), "the worker's lines are here"

    canaries = (
        WEB_NARRATIVE,
        CONFLICT_WORDS,
        USER_AGENT,
        FORWARDED_ADDRESS,
        CLIENT_ADDRESS,
        receipt.group(1).strip(),
        *NUMBER_FORMS,
    )
    logs = json_log.getvalue()
    for canary in canaries:
        assert canary not in logs, f"{canary!r} in the JSON log"
        assert canary not in scrape, f"{canary!r} in /metrics"
    assert "candour_deliveries_waiting" in scrape
