"""Canaries: an anonymous raiser on the web and an SMS raiser leave nothing that identifies them.

Real processes, as in production: gunicorn (with infra/gunicorn.conf.py) answers the web raiser and
Twilio's signed webhooks, a Celery worker on Redis does the work after commit, beat runs its
schedule, and Sentry reports to a local envelope receiver. Only the fake Twilio and the Sentry
receiver, the outer edge, are stand-ins.

The canaries: the web raiser's client address (the socket's own, so REMOTE_ADDR, and another in
X-Forwarded-For), user agent, narrative and receipts; the SMS raiser's number and narrative. An
error is provoked in the web process (the raiser's follow-up message) and in the worker (the SMS
raiser's next text), both carrying canaries, so Sentry envelopes are really sent from each.

Then every place a canary could stay is searched: every text, JSON and binary column of every table
(the narrative is encrypted, so it must not be there in clear either), every Redis key and value,
every command Redis saw (so every Celery message as it passed, its base64 body decoded), the logs of
the web, worker and beat processes, the files they wrote, and every Sentry envelope. Each search is
checked to have found something it should (a reference, a task, a request), so none passes empty.
Only the contact vault may hold the number (encrypted), and the fake Twilio (it sends to it).
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from requests.adapters import HTTPAdapter

from backend.concerns import services
from backend.concerns.models import Concern, ConflictOfInterest, InboundSms
from tests.support.fake_twilio import FakeTwilio
from tests.support.processes import (
    BIN,
    ROOT,
    Proc,
    beat_cmd,
    free_port,
    process_env,
    running,
    wait_for,
    wait_http,
    worker_cmd,
)
from tests.support.raise_pages import raise_with_requests
from tests.support.sentry_receiver import SentryReceiver

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

_TAG = secrets.token_hex(3)
# A loopback address of its own: the web raiser's requests leave from it, so it is the REMOTE_ADDR
# gunicorn hands to Candour, not 127.0.0.1 like every other request of the run.
CLIENT_ADDRESS = f"127.{secrets.randbelow(200) + 20}.{secrets.randbelow(250) + 1}.{secrets.randbelow(250) + 2}"
FORWARDED_ADDRESS = "198.51.100.173"
USER_AGENT = f"CanaryBrowser/7.3 (canary-ua-{_TAG})"
WEB_NARRATIVE = f"CANARY-WEB-{_TAG} the night sister shouted at Mrs Example"
SMS_NUMBER = "+447700900778"
SMS_NARRATIVE = f"CANARY-SMS-{_TAG} falls on the night shift are not reported"
# Who must not handle the concern, in the raiser's words: identifying, so encrypted at rest and
# nowhere else (never the packet, a notice, a log, a task or Sentry).
CONFLICT_WORDS = f"CANARY-CONFLICT-{_TAG} not Sister Canary, my line manager's sister"
NUMBER_FORMS = (SMS_NUMBER, "7700900778", "7700 900778", "7700 900 778", "07700900778")
TRUST_NUMBER = "+447700900101"  # the demo trust's SMS number (backend/organisations/demo.py)


class _FromAddress(HTTPAdapter):
    """Connect from a chosen local address (any of 127.0.0.0/8 reaches a server on 127.0.0.1)."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def _web_raiser(base: str) -> requests.Session:
    session = requests.Session()
    session.mount("http://", _FromAddress(CLIENT_ADDRESS))
    session.headers.update({"User-Agent": USER_AGENT, "X-Forwarded-For": FORWARDED_ADDRESS, "Referer": f"{base}/"})
    return session


def _csrf(page: str) -> str:
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token, "no CSRF token on the page"
    return token.group(1)


def _testid(page: str, testid: str) -> str:
    found = re.search(rf'data-testid="{testid}">([^<]+)<', page)
    assert found, f"no {testid} on the page"
    return found.group(1).strip()


@dataclass
class Raised:
    reference: str
    receipt: str


def _raise_on_the_web(session: requests.Session, base: str) -> Raised:
    """Through the pages, a question at a time, naming who must not handle it too."""
    walk = raise_with_requests(
        session,
        base,
        {
            "unit": "RNX07",
            "raiser_kind": "staff",
            "identity_mode": "anonymous",
            "themes": ["behaviour"],
            "what_happened": WEB_NARRATIVE,
            "not_to_handle": CONFLICT_WORDS + " (on the web)",
            "not_to_handle_roles": ["ward_manager"],
        },
    )
    response = walk.response
    assert response.status_code == 200, response.text[:500]
    return Raised(_testid(response.text, "reference"), _testid(response.text, "receipt"))


def _raise_by_api(session: requests.Session, base: str) -> Raised:
    response = session.post(
        f"{base}/api/v1/concerns/raise/",
        json={
            "unit": "RNX07",
            "raiser_kind": "carer",
            "identity_mode": "anonymous",
            "themes": ["other"],
            "what_happened": WEB_NARRATIVE + " (by the API)",
            "not_to_handle": CONFLICT_WORDS,
            "not_to_handle_roles": ["line_manager"],
        },
        timeout=10,
    )
    assert response.status_code == 201, response.text[:500]
    return Raised(response.json()["reference"], response.json()["receipt"])


# Provoking errors ----------------------------------------------------------------------------------


def _refuse_messages(refuse: bool) -> None:
    """A database trigger (the outer edge) refuses every new message: the web raiser's follow-up
    message fails in gunicorn, the SMS raiser's next text fails in the worker."""
    with connection.cursor() as cursor:
        if refuse:
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


@pytest.fixture
def refusing_messages():  # type: ignore[no-untyped-def]
    yield lambda: _refuse_messages(True)
    _refuse_messages(False)


# The searches --------------------------------------------------------------------------------------

SEARCHED_TYPES = ("text", "character varying", "character", "json", "jsonb", "bytea", "inet", "cidr", "ARRAY")


def _database() -> str:
    """Every value of every text, JSON, binary, address and array column of every table, as text
    (bytea decoded, so bytes written in clear are found too)."""
    out: list[str] = []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'public' AND data_type = ANY(%s) ORDER BY table_name, ordinal_position",
            [list(SEARCHED_TYPES)],
        )
        columns = cursor.fetchall()
        for table, column, data_type in columns:
            value = f'"{column}"::text' if data_type not in ("bytea",) else f'"{column}"'
            cursor.execute(f'SELECT {value} FROM "{table}" WHERE "{column}" IS NOT NULL')
            for (cell,) in cursor.fetchall():
                if isinstance(cell, memoryview | bytes):
                    cell = bytes(cell).decode("utf-8", errors="replace")
                out.append(f"{table}.{column}: {cell}")
    assert len(columns) > 50, "the catalogue query found too few columns to be searching the database"
    return "\n".join(out)


def _redis() -> str:
    """Every key and value in every Redis database."""
    port = int(os.environ["CANDOUR_REDIS_PORT"])
    out: list[str] = []
    info = redis.Redis(port=port).info("keyspace")
    for db in (int(name[2:]) for name in info):
        client = redis.Redis(port=port, db=db)
        for key in client.scan_iter(count=1000):
            kind = client.type(key)
            kind = kind.decode() if isinstance(kind, bytes) else kind
            value: Any = {
                "string": lambda k: client.get(k),
                "list": lambda k: client.lrange(k, 0, -1),
                "hash": lambda k: client.hgetall(k),
                "set": lambda k: client.smembers(k),
                "zset": lambda k: client.zrange(k, 0, -1, withscores=True),
            }.get(kind, lambda k: b"")(key)
            out.append(f"{db} {key!r} {kind}: {value!r}")
    return "\n".join(out)


_BASE64 = re.compile(r"[A-Za-z0-9+/]{24,}={0,2}")


def _with_base64_decoded(text: str) -> str:
    """The text and, after it, every long base64 run in it decoded: a Celery message's body is
    base64 JSON inside the JSON Redis carries, so a canary in a task's arguments hides from a
    plain search."""
    decoded = []
    for run in _BASE64.findall(text):
        try:
            raw = base64.b64decode(run + "=" * (-len(run) % 4), validate=True)
        except (binascii.Error, ValueError):
            continue
        decoded.append(raw.decode("utf-8", errors="replace"))
    return text + "\n--- decoded ---\n" + "\n".join(decoded)


def _files(folder: Path) -> str:
    """Every file under ``folder`` but the collected static assets (written by no process at run time)."""
    files = [p for p in folder.rglob("*") if p.is_file() and "static" not in p.relative_to(folder).parts]
    return "\n".join(f"{path}: {path.read_bytes().decode('utf-8', errors='replace')}" for path in files)


# The test ------------------------------------------------------------------------------------------


def test_no_canary_of_a_web_or_sms_raiser_is_kept_anywhere(demo: None, tmp_path: Path, refusing_messages) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    # The processes share the test's var folder (its generated keys decrypt what they write); beat's
    # schedule goes in a folder of this run's own.
    var = Path(settings.VAR_DIR)
    with SentryReceiver() as sentry, FakeTwilio(auto_callbacks=True, webhook_base=base) as twilio:
        env = process_env(
            SENTRY_DSN=sentry.dsn,
            CANDOUR_BASE_URL=base,
            TWILIO_API_BASE_URL=twilio.base_url,
            CANDOUR_LOG_LEVEL="DEBUG",
            CANDOUR_SWEEP_SECONDS="2",  # beat sends its sweeps several times during the run
        )
        logs = tmp_path / "logs"
        logs.mkdir()
        monitor = Proc(
            "monitor", ["redis-cli", "-p", os.environ["CANDOUR_REDIS_PORT"], "monitor"], env, logs / "redis.log"
        )
        web = Proc(
            "web",
            [
                str(BIN / "gunicorn"),
                "backend.config.wsgi",
                "-c",
                str(ROOT / "infra" / "gunicorn.conf.py"),
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "1",
            ],
            env,
            logs / "web.log",
        )
        worker = Proc("worker", worker_cmd(), env, logs / "worker.log")
        beat = Proc("beat", beat_cmd(tmp_path / "celerybeat-schedule"), env, logs / "beat.log")
        with running([monitor, web, worker, beat]):
            wait_http(f"{base}/healthz")
            session = _web_raiser(base)
            # The web raiser: a concern by the form and one by the API, then a follow-up by receipt.
            by_page = _raise_on_the_web(session, base)
            by_api = _raise_by_api(session, base)
            follow_up = session.get(f"{base}/follow-up/", timeout=10)
            opened = session.post(
                f"{base}/follow-up/",
                data={"csrfmiddlewaretoken": _csrf(follow_up.text), "receipt": by_page.receipt},
                timeout=10,
            )
            assert opened.status_code == 200 and by_page.reference in opened.text
            # The SMS raiser: a text raises a concern; the worker answers it through Twilio.
            status, twiml = twilio.send_inbound(
                f"{base}/twilio/sms/", from_=SMS_NUMBER, to=TRUST_NUMBER, body=SMS_NARRATIVE
            )
            assert status == 200
            assert "<Message" not in twiml  # empty TwiML: the reply is a text of its own, from the worker
            wait_for(
                lambda: any("your concern is received" in m.get("Body", "") for m in twilio.messages),
                timeout=30,
                what="the worker's reply to the SMS raiser",
            )
            by_sms = Concern.objects.exclude(reference__in=[by_page.reference, by_api.reference]).get()
            guardian = get_user_model().objects.get(username="guardian")
            services.concern_message_to_raiser(concern_id=by_sms.pk, user=guardian, body="Which night?")
            wait_for(
                lambda: any("Which night?" in m.get("Body", "") for m in twilio.messages),
                timeout=30,
                what="the guardian's message to reach the SMS raiser",
            )
            # Errors in both processes, each carrying canaries.
            refusing_messages()
            failed = session.post(
                f"{base}/follow-up/concern/message/",
                data={"csrfmiddlewaretoken": _csrf(opened.text), "body": WEB_NARRATIVE + " again"},
                timeout=10,
            )
            assert failed.status_code == 500
            status, _ = twilio.send_inbound(
                f"{base}/twilio/sms/", from_=SMS_NUMBER, to=TRUST_NUMBER, body=SMS_NARRATIVE + " on Tuesday"
            )
            assert status == 200
            wait_for(lambda: len(sentry.items) >= 2, timeout=30, what="Sentry events from the web and the worker")
            assert InboundSms.objects.filter(processed_at=None).count() == 1  # the worker really failed
            wait_for(lambda: "Sending due task" in beat.output(), timeout=30, what="beat to send its sweeps")
        outputs = {p.name: p.output() for p in (monitor, web, worker, beat)}

    # Each place searched holds what it should, so a search that found nothing cannot pass.
    database = _database()
    for reference in (by_page.reference, by_api.reference, by_sms.reference):
        assert reference in database
    # The raiser's naming of who must not handle it is held (so the search below covers its row), as ciphertext.
    named = ConflictOfInterest.objects.get(concern__reference=by_api.reference, basis="raiser_words")
    assert named.words == CONFLICT_WORDS
    redis_now = _with_base64_decoded(_redis())
    assert "_kombu.binding" in redis_now  # the broker's own keys: the search reached the broker
    passed = _with_base64_decoded(outputs["monitor"])
    assert "sms_inbound_process" in passed and "delivery_send" in passed  # the Celery messages passed
    assert re.search(r"\[\[\d+\]", passed)  # and their bodies (the task arguments) were decoded
    assert "POST /raise/" in outputs["web"] and "POST /twilio/sms/" in outputs["web"]  # the access log
    assert "Internal Server Error" in outputs["web"]  # the web error, logged
    assert "sms_inbound_process" in outputs["worker"] and "disk full (injected)" in outputs["worker"]
    assert "figures_rollup" in outputs["beat"]
    envelopes = b"\n".join(sentry.raw).decode(errors="replace")
    web_events = [
        e for e in sentry.items if e.get("request", {}).get("url", "").endswith("/follow-up/concern/message/")
    ]
    worker_events = [e for e in sentry.items if "request" not in e]
    assert web_events and worker_events, [e.get("transaction") for e in sentry.items]

    canaries = (
        CLIENT_ADDRESS,
        FORWARDED_ADDRESS,
        f"canary-ua-{_TAG}",
        f"CANARY-WEB-{_TAG}",
        f"CANARY-SMS-{_TAG}",
        f"CANARY-CONFLICT-{_TAG}",
        "Sister Canary",
        "Mrs Example",
        by_page.receipt,
        by_page.receipt.replace("-", ""),
        by_api.receipt,
        by_api.receipt.replace("-", ""),
        *NUMBER_FORMS,
    )
    places = {
        "the database": database,
        "Redis": redis_now,
        "the Redis command stream (Celery messages)": passed,
        "the web log": outputs["web"],
        "the worker log": _with_base64_decoded(outputs["worker"]),
        "the beat log": outputs["beat"],
        "the processes' files": _files(var) + _files(tmp_path),
        "the Sentry envelopes": _with_base64_decoded(envelopes),
    }
    found = [f"{canary!r} in {where}" for where, text in places.items() for canary in canaries if canary in text]
    assert not found, "canaries found:\n" + "\n".join(found)
    # The outer edge had the number: Candour sent the raiser's replies to it.
    assert all(m["To"] == SMS_NUMBER for m in twilio.messages)
