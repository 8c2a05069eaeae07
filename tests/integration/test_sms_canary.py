"""A canary phone number, texted in through real processes, appears nowhere outside the vault.

gunicorn answers Twilio's signed webhooks and stores the texts, a Celery worker on Redis processes them
and sends Candour's replies and the guardian's message through the fake Twilio API, Sentry reports to
a local receiver. Afterwards the canary is searched for in a
pg_dump of the database, the processes' logs, every command Redis saw (so every Celery message) and
every Sentry envelope. Only the fake Twilio, the outer edge, may have it.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from backend.concerns import services
from backend.concerns.models import Concern, InboundSms
from tests.support.fake_twilio import FakeTwilio
from tests.support.processes import BIN, Proc, free_port, process_env, running, wait_for, wait_http, worker_cmd
from tests.support.sentry_receiver import SentryReceiver

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

CANARY = "+447700900777"
FORMS = ("7700900777", "7700 900777", "7700 900 777", "07700900777")
TRUST_NUMBER = "+447700900101"


def _dump() -> str:
    s = connection.settings_dict
    return subprocess.run(
        ["pg_dump", "--data-only", "-h", s["HOST"], "-p", str(s["PORT"]), "-U", s["USER"], s["NAME"]],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout


@pytest.fixture
def failing_messages():  # type: ignore[no-untyped-def]
    yield lambda: _trigger("CREATE")
    _trigger("DROP")


def _trigger(what: str) -> None:
    with connection.cursor() as cursor:
        if what == "CREATE":
            cursor.execute(
                "CREATE FUNCTION candour_test_refuse() RETURNS trigger AS $$ "
                "BEGIN RAISE EXCEPTION 'disk full (injected)'; END $$ LANGUAGE plpgsql"
            )
            cursor.execute(
                "CREATE TRIGGER candour_test_refuse BEFORE INSERT ON concerns_message "
                "FOR EACH ROW EXECUTE FUNCTION candour_test_refuse()"
            )
        else:
            cursor.execute("DROP TRIGGER IF EXISTS candour_test_refuse ON concerns_message")
            cursor.execute("DROP FUNCTION IF EXISTS candour_test_refuse()")


def test_the_number_is_nowhere_but_the_vault(demo: None, tmp_path: Path, failing_messages) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with SentryReceiver() as sentry, FakeTwilio(auto_callbacks=True, webhook_base=base) as twilio:
        env = process_env(
            SENTRY_DSN=sentry.dsn,
            CANDOUR_BASE_URL=base,
            TWILIO_API_BASE_URL=twilio.base_url,
            CANDOUR_LOG_LEVEL="DEBUG",
        )
        monitor = Proc(
            "monitor",
            ["redis-cli", "-p", os.environ["CANDOUR_REDIS_PORT"], "monitor"],
            env,
            tmp_path / "redis-monitor.log",
        )
        web = Proc(
            "web",
            [
                str(BIN / "gunicorn"),
                "backend.config.wsgi",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "1",
                "--access-logfile",
                "-",
            ],
            env,
            tmp_path / "web.log",
        )
        worker = Proc("worker", worker_cmd(), env, tmp_path / "worker.log")
        with running([monitor, web, worker]):
            wait_http(f"{base}/healthz")
            status, twiml = twilio.send_inbound(
                f"{base}/twilio/sms/", from_=CANARY, to=TRUST_NUMBER, body="Night staff told not to report falls"
            )
            assert status == 200
            assert "<Message" not in twiml  # empty TwiML: the reply is a text of its own, from the worker
            wait_for(
                lambda: any("your concern is received" in m.get("Body", "") for m in twilio.messages),
                timeout=30,
                what="the worker's reply to reach the fake Twilio",
            )
            assert twilio.messages[0]["To"] == CANARY
            concern = Concern.objects.get()
            guardian = get_user_model().objects.get(username="guardian")
            services.concern_message_to_raiser(concern_id=concern.pk, user=guardian, body="Which night?")
            wait_for(
                lambda: any("Which night?" in m.get("Body", "") for m in twilio.messages),
                timeout=30,
                what="the guardian's message to reach the fake Twilio",
            )
            # A crash while the worker processes the next text: Sentry hears of it, without the
            # number, and the text waits in the database (encrypted) for the requeue sweep.
            failing_messages()
            status, _ = twilio.send_inbound(f"{base}/twilio/sms/", from_=CANARY, to=TRUST_NUMBER, body="Tuesday")
            assert status == 200
            wait_for(lambda: sentry.items, timeout=30, what="the Sentry event")
            assert InboundSms.objects.filter(processed_at=None).count() == 1
        outputs = {p.name: p.output() for p in (monitor, web, worker)}

    assert "delivery_send" in outputs["monitor"]  # the monitor really saw the Celery messages
    assert "sms_inbound_process" in outputs["monitor"]
    assert "POST /twilio/sms/" in outputs["web"]  # and the access log really logged requests
    places = {"database": _dump(), "sentry": b"\n".join(sentry.raw).decode(errors="replace"), **outputs}
    for where, text in places.items():
        for form in FORMS:
            assert form not in text, f"{form} found in {where}"
    # The vault has it, encrypted; the fake Twilio (the outer edge) was given it to send to.
    assert twilio.messages[0]["To"] == CANARY
