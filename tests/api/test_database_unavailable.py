"""A request that cannot reach the database (PgBouncer or PostgreSQL restarting, a failover: what the
drill's kills do) answers 503 with Retry-After, in the API's error shape under /api/, never a 500; and
the outage is still logged as an error. The database is made unreachable for real: the connection's
port is pointed at one nothing listens on, so the first query of the request fails to connect."""

from __future__ import annotations

import json
import socket
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from backend.concerns.models import InboundSms
from backend.config.middleware import DATABASE_UNAVAILABLE
from tests.support.fake_twilio import inbound_params, new_sid, sign

pytestmark = [
    pytest.mark.django_db(transaction=True),
    # SQLite's test database lives in memory, in the connection these tests cut: it would be gone.
    pytest.mark.skipif(connection.vendor != "postgresql", reason="cuts the connection to a database server"),
]

BASE = "https://candour.example"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the socket is: nothing listens there


@pytest.fixture
def database_down() -> Iterator[None]:
    settings_dict = connection.settings_dict
    saved = (settings_dict["HOST"], settings_dict["PORT"])
    connection.close()
    settings_dict["HOST"], settings_dict["PORT"] = "127.0.0.1", str(_closed_port())
    try:
        yield
    finally:
        connection.close()
        settings_dict["HOST"], settings_dict["PORT"] = saved


def _unavailable_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.levelname == "ERROR" and "database unavailable" in r.getMessage()
    ]


def test_an_api_request_answers_503_in_the_api_shape(database_down: None, caplog: pytest.LogCaptureFixture) -> None:
    response = Client(raise_request_exception=False).post(
        "/api/v1/follow-up/", data=json.dumps({"receipt": "ABCD-EFGH-JKLM-NPQR"}), content_type="application/json"
    )
    assert response.status_code == 503
    assert response["Retry-After"] == "5" and response["Cache-Control"] == "no-store"
    assert response.json() == {"detail": DATABASE_UNAVAILABLE}
    assert _unavailable_logged(caplog)


def test_a_text_twilio_sends_answers_503_and_twilio_sends_it_again(
    database_down: None, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings.TWILIO_AUTH_TOKEN = "test-token"
    settings.CANDOUR_BASE_URL = BASE
    params = inbound_params(from_="+447700900123", to="+447700900101", body="HELP", message_sid=new_sid())
    response = Client(raise_request_exception=False).post(
        "/twilio/sms/",
        data=urllib.parse.urlencode(params),
        content_type="application/x-www-form-urlencoded",
        HTTP_X_TWILIO_SIGNATURE=sign("test-token", f"{BASE}/twilio/sms/", params),
    )
    # Twilio calls the number's fallback URL on a 5xx, with the same MessageSid (stored once when it lands).
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert b"<h1>" in response.content and DATABASE_UNAVAILABLE.encode() in response.content
    assert _unavailable_logged(caplog)


def test_once_the_database_is_back_the_same_text_is_stored(settings: Any) -> None:
    settings.TWILIO_AUTH_TOKEN = "test-token"
    settings.CANDOUR_BASE_URL = BASE
    params = inbound_params(from_="+447700900123", to="+447700900101", body="HELP", message_sid=new_sid())
    post = {
        "data": urllib.parse.urlencode(params),
        "content_type": "application/x-www-form-urlencoded",
        "HTTP_X_TWILIO_SIGNATURE": sign("test-token", f"{BASE}/twilio/sms/", params),
    }
    settings_dict = connection.settings_dict
    saved = (settings_dict["HOST"], settings_dict["PORT"])
    connection.close()
    settings_dict["HOST"], settings_dict["PORT"] = "127.0.0.1", str(_closed_port())
    try:
        assert Client(raise_request_exception=False).post("/twilio/sms/", **post).status_code == 503
    finally:
        connection.close()
        settings_dict["HOST"], settings_dict["PORT"] = saved
    assert not InboundSms.objects.filter(message_sid=params["MessageSid"]).exists()
    assert Client().post("/twilio/sms/", **post).status_code == 200
    assert InboundSms.objects.filter(message_sid=params["MessageSid"]).count() == 1
