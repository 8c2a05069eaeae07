"""An error in a request carrying concern text reaches Sentry without that text.

Runs Candour under gunicorn as in production, with SENTRY_DSN pointing at a local envelope receiver.
The error is real: a database trigger (the outer edge) refuses the insert mid-request.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from django.db import connection

from tests.support.processes import BIN, Proc, free_port, process_env, running, wait_for, wait_http
from tests.support.raise_pages import raise_with_requests
from tests.support.sentry_receiver import SentryReceiver

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

CANARY_TEXT = "CANARY-NARRATIVE-7f3a9 the night sister shouted at Mrs Example"
CANARY_UA = "CanaryBrowser/9.9 (ua-canary-51c2)"
CANARY_IP = "203.0.113.77"


@pytest.fixture
def failing_intake(demo: None):  # type: ignore[no-untyped-def]
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION candour_test_refuse() RETURNS trigger AS $$ "
            "BEGIN RAISE EXCEPTION 'disk full (injected)'; END $$ LANGUAGE plpgsql"
        )
        cursor.execute(
            "CREATE TRIGGER candour_test_refuse BEFORE INSERT ON concerns_concern "
            "FOR EACH ROW EXECUTE FUNCTION candour_test_refuse()"
        )
    yield
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER candour_test_refuse ON concerns_concern")
        cursor.execute("DROP FUNCTION candour_test_refuse()")


def test_sentry_event_arrives_without_concern_text_or_identity(failing_intake: None, tmp_path: Path) -> None:
    port = free_port()
    with SentryReceiver() as receiver:
        env = process_env(SENTRY_DSN=receiver.dsn)
        web = Proc(
            "web",
            [str(BIN / "gunicorn"), "backend.config.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
            env,
            tmp_path / "web.log",
        )
        with running([web]):
            base = f"http://127.0.0.1:{port}"
            wait_http(f"{base}/healthz")
            session = requests.Session()
            session.headers.update({"User-Agent": CANARY_UA, "X-Forwarded-For": CANARY_IP})
            walk = raise_with_requests(
                session,
                base,
                {
                    "unit": "RNX07",
                    "raiser_kind": "staff",
                    "identity_mode": "anonymous",
                    "themes": ["behaviour"],
                    "what_happened": CANARY_TEXT,
                },
            )
            response, tokens = walk.response, walk.tokens
            assert response.status_code == 500
            wait_for(lambda: receiver.items, timeout=20, what="the Sentry event")
        log = web.output()

    event = receiver.items[0]
    assert event["exception"]["values"][-1]["type"] in {"RaiseException", "InternalError", "ProgrammingError"}
    assert "disk full (injected)" in event["exception"]["values"][-1]["value"]
    assert event["request"]["url"].endswith("/raise/check/")  # it is about the failing request (the send)
    everything = b"\n".join(receiver.raw).decode(errors="replace")
    for canary in ("CANARY-NARRATIVE-7f3a9", "Mrs Example", "ua-canary-51c2", CANARY_IP, *tokens):
        assert canary not in everything, canary
        assert canary not in log, canary


@pytest.mark.parametrize("debug", ["0", "1"], ids=["debug-off", "debug-on"])
def test_a_server_error_under_the_api_answers_json_and_still_reaches_sentry_and_the_log(
    failing_intake: None, tmp_path: Path, debug: str
) -> None:
    """The API's JSON 500 (backend/api/errors.py) only replaces the body: the error is logged with its
    traceback and reported as before, with DEBUG on (as `make run` may be) and off."""
    port = free_port()
    with SentryReceiver() as receiver:
        env = process_env(SENTRY_DSN=receiver.dsn, DJANGO_DEBUG=debug)
        web = Proc(
            "web",
            [str(BIN / "gunicorn"), "backend.config.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
            env,
            tmp_path / "web.log",
        )
        with running([web]):
            base = f"http://127.0.0.1:{port}"
            wait_http(f"{base}/healthz")
            response = requests.post(
                f"{base}/api/v1/concerns/raise/",
                json={
                    "unit": "RNX07",
                    "raiser_kind": "staff",
                    "identity_mode": "anonymous",
                    "themes": ["behaviour"],
                    "what_happened": CANARY_TEXT,
                },
                headers={"User-Agent": CANARY_UA},
                timeout=10,
            )
            assert response.status_code == 500
            assert response.headers["Content-Type"] == "application/json"
            assert response.json() == {"detail": "A server error occurred."}
            wait_for(lambda: receiver.items, timeout=20, what="the Sentry event")
        log = web.output()

    event = receiver.items[0]
    assert "disk full (injected)" in event["exception"]["values"][-1]["value"]
    assert event["request"]["url"].endswith("/api/v1/concerns/raise/")
    assert "Internal Server Error: /api/v1/concerns/raise/" in log
    assert "Traceback (most recent call last)" in log
    assert "disk full (injected)" in log
    everything = b"\n".join(receiver.raw).decode(errors="replace")
    for canary in ("CANARY-NARRATIVE-7f3a9", "Mrs Example", "ua-canary-51c2"):
        assert canary not in everything, canary
        assert canary not in log, canary
