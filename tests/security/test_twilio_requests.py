"""The attacker's requests to Twilio's webhooks: forged, replayed, and steered by proxy headers.

What tests/integration/test_twilio_webhooks.py proves already, and is not repeated here: a text or a
status callback with no signature, an empty or garbage one, one made with another token, or one
signed for another URL (http for https, another host, the Host header's address, another path, a
query not sent) or for other parameters (one changed, one added, a repeated one smuggled) gets 403
and leaves no row, no task and no log line naming what it carried, also with the real backend
handler behind the webhook; the same signed text ten times is stored once and queues one task; a
replayed status callback, in any order, never moves a delivery backwards.

Added here:

- Replays all the way through: the same signed text posted again, before it is processed, after,
  and after Twilio was asked to forget it, stores one text, raises one concern, sends one reply and
  asks Twilio once to forget it; a replayed final status callback asks Twilio nothing more; a forged
  one makes no redaction due.
- Proxy headers, through gunicorn with its own configuration (infra/gunicorn.conf.py) and the
  production settings: X-Forwarded-Proto is honoured only with ``DJANGO_BEHIND_PROXY=1`` (both ways
  proved); X-Forwarded-Host is never honoured (no setting turns Django's USE_X_FORWARDED_HOST on), so
  neither the host Candour answers as nor the URL a signature is checked against can be steered by
  it; X-Forwarded-For is forgotten at the door whatever the setting (ForgetClientAddressMiddleware:
  tests/security/test_headers.py, tests/integration/test_anonymity.py), and here it reaches no log.
"""

from __future__ import annotations

import http.client
import os
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import redis
from django.test import Client

from backend.concerns.models import Concern, InboundSms, Message
from backend.concerns.sms import sms_inbound_process
from notifications.models import Delivery, DeliveryStatus, Redaction, RedactionStatus
from notifications.redactions import redaction_run
from notifications.services import delivery_send
from tests.integration.test_settings import _production_env, _secrets
from tests.support.fake_twilio import FakeTwilio, channel_settings, inbound_params, sign, status_callback_params
from tests.support.processes import BIN, ROOT, Proc, free_port, running, wait_http
from tests.support.processes import test_database_url as database_url
from tests.support.sent_tasks import redactions_sent, tasks_sent_after_commit

BASE = "https://candour.example"
SMS_PATH = "/twilio/sms/"
STATUS_PATH = "/twilio/status/"
RAISER = "+447700900561"
TRUST_NUMBER = "+447700900101"  # RNX in the demo
WORDS = "The controlled drugs cupboard on ward 7 is left open at night"


@pytest.fixture
def fake(settings: Any) -> Iterator[FakeTwilio]:
    """A fake Twilio this process's SMS channel talks to; webhooks are checked against BASE."""
    with FakeTwilio() as server:
        channel_settings(settings, server, status_callback=True)
        settings.CANDOUR_BASE_URL = BASE
        settings.CANDOUR_SMS_INBOUND_HANDLER = "backend.concerns.sms.sms_inbound_store"
        settings.NOTIFICATIONS_SMS_RESOLVER = f"{__name__}.resolve"
        yield server


def _post(path: str, params: dict[str, str], signature: str) -> Any:
    form = "application/x-www-form-urlencoded"
    return Client().post(path, data=urlencode(params), content_type=form, HTTP_X_TWILIO_SIGNATURE=signature)


def resolve(token: str) -> str | None:
    """Stands in for the contact vault: the one outbound text below goes to the raiser."""
    return RAISER if token == "tok" else None


# -- replays --------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_replayed_text_is_one_text_one_concern_one_reply_and_one_redaction(
    demo: None, fake: FakeTwilio, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    # Twilio signs no time: a captured request verifies for ever. The MessageSid is all that tells
    # a replay from a new text, so a replay at any point must find it already taken.
    params = fake.receive(from_=RAISER, to=TRUST_NUMBER, body=WORDS)
    signature = sign(fake.auth_token, BASE + SMS_PATH, params)

    def replay(times: int = 3) -> None:
        with tasks_sent_after_commit(django_capture_on_commit_callbacks) as sent:
            for _ in range(times):
                assert _post(SMS_PATH, params, signature).status_code == 200
        assert sent == []  # nothing stored, nothing queued

    with tasks_sent_after_commit(django_capture_on_commit_callbacks) as sent:
        assert _post(SMS_PATH, params, signature).status_code == 200
    [(_, [inbound_id])] = sent  # the processing task
    replay()  # before the worker has it
    with tasks_sent_after_commit(django_capture_on_commit_callbacks) as sent:
        assert sms_inbound_process(inbound_id=inbound_id) == "replied"  # what the task does
    [redaction_id] = redactions_sent(sent)
    replay()  # processed: the stored text is emptied, its sid kept
    assert redaction_run(redaction_id=redaction_id) == RedactionStatus.REDACTED
    assert params["MessageSid"] not in fake.bodies_held()
    replay()  # and once Twilio has forgotten it

    assert InboundSms.objects.count() == 1
    assert Concern.objects.count() == 1
    assert Message.objects.count() == 0  # no replay added to the concern either
    assert Delivery.objects.filter(channel="sms").count() == 1  # one reply, with one receipt code
    assert [sid for sid, _ in fake.redactions] == [params["MessageSid"]]


@pytest.mark.django_db
def test_a_text_replayed_after_its_stored_row_is_deleted_is_still_refused(demo: None, fake: FakeTwilio) -> None:
    params = fake.receive(from_=RAISER, to=TRUST_NUMBER, body=WORDS)
    signature = sign(fake.auth_token, BASE + SMS_PATH, params)
    assert _post(SMS_PATH, params, signature).status_code == 200
    sms_inbound_process(inbound_id=InboundSms.objects.get().pk)
    # Retention deletes processed texts; the redaction row, which keeps the sid, outlives them.
    InboundSms.objects.all().delete()
    assert _post(SMS_PATH, params, signature).status_code == 200
    assert InboundSms.objects.count() == 0
    assert Concern.objects.count() == 1


def _sent_text(fake: FakeTwilio) -> Delivery:
    """An outbound text Twilio has accepted: its row waits for the final status."""
    delivery = Delivery.objects.create(
        idempotency_key="requests:1", channel="sms", recipient="tok", body="Candour: C-1 was acknowledged."
    )
    assert delivery_send(delivery_id=delivery.pk) == DeliveryStatus.SENT
    delivery.refresh_from_db()
    return delivery


def _callback(sid: str, status: str, *, signed_for: str = BASE + STATUS_PATH, token: str) -> int:
    params = status_callback_params(sid, status, to=RAISER)
    return int(_post(STATUS_PATH, params, sign(token, signed_for, params)).status_code)


@pytest.mark.django_db
def test_a_replayed_final_status_asks_twilio_nothing_more(
    fake: FakeTwilio, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    delivery = _sent_text(fake)
    fake.set_status(delivery.provider_id, "delivered")
    with tasks_sent_after_commit(django_capture_on_commit_callbacks) as sent:
        assert _callback(delivery.provider_id, "delivered", token=fake.auth_token) == 204
    [redaction_id] = redactions_sent(sent)
    assert redaction_run(redaction_id=redaction_id) == RedactionStatus.REDACTED
    with tasks_sent_after_commit(django_capture_on_commit_callbacks) as sent:
        for status in ("delivered", "undelivered", "failed", "delivered"):
            assert _callback(delivery.provider_id, status, token=fake.auth_token) == 204
    assert sent == []
    # Even a duplicate task (a broker redelivery) finds it done and asks nothing.
    assert redaction_run(redaction_id=redaction_id) == RedactionStatus.REDACTED
    assert len(fake.redactions) == 1


@pytest.mark.django_db
def test_a_forged_final_status_makes_no_redaction_due(
    fake: FakeTwilio, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    # Asking Twilio to redact a message not yet final is harmless (30400), but a forger must not be
    # able to set Candour's workers asking: only a signed callback makes a redaction due.
    delivery = _sent_text(fake)
    [waiting] = Redaction.objects.values_list("retry_at", flat=True)
    with tasks_sent_after_commit(django_capture_on_commit_callbacks) as sent:
        assert _callback(delivery.provider_id, "delivered", token="not-the-token") == 403
        elsewhere = "https://evil.example" + STATUS_PATH
        assert _callback(delivery.provider_id, "delivered", signed_for=elsewhere, token=fake.auth_token) == 403
    assert sent == []
    assert list(Redaction.objects.values_list("retry_at", flat=True)) == [waiting]
    assert fake.redactions == []


# -- proxy headers, through gunicorn and the production settings ----------------------------------


FORWARDED_FOR = "203.0.113.77"


def _post_raw(port: int, path: str, params: dict[str, str], headers: dict[str, str]) -> tuple[int, dict[str, str]]:
    """POST without following redirects, with exactly these headers (Host included)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        body = urlencode(params)
        connection.request(
            "POST", path, body=body, headers={"Content-Type": "application/x-www-form-urlencoded", **headers}
        )
        response = connection.getresponse()
        response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}
    finally:
        connection.close()


def _broker_db(db: int) -> str:
    """The test Redis, another database: nothing this gunicorn queues reaches another test's worker."""
    parts = urllib.parse.urlsplit(os.environ["CELERY_BROKER_URL"])
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, f"/{db}", "", ""))


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("behind_proxy", [False, True], ids=["no-proxy-setting", "DJANGO_BEHIND_PROXY=1"])
def test_forwarded_headers_count_only_as_the_proxy_setting_says(tmp_path: Path, behind_proxy: bool) -> None:
    token = "proxy-test-token"
    port = free_port()
    broker = _broker_db(13)
    env = _production_env(tmp_path, **_secrets())
    env.update(
        DATABASE_URL=database_url(),
        CELERY_BROKER_URL=broker,
        PYTHONPATH=str(ROOT),
        DJANGO_ALLOWED_HOSTS="candour.example,127.0.0.1",
        CANDOUR_BASE_URL=BASE,
        TWILIO_AUTH_TOKEN=token,
    )
    env.pop("FORWARDED_ALLOW_IPS", None)  # gunicorn's own default, as an operator would have it
    if behind_proxy:
        env["DJANGO_BEHIND_PROXY"] = "1"
    web = Proc(
        "web",
        [
            *(str(BIN / "gunicorn"), "backend.config.wsgi", "-c", str(ROOT / "infra" / "gunicorn.conf.py")),
            *("--bind", f"127.0.0.1:{port}", "--workers", "1"),
        ],
        env,
        tmp_path / "web.log",
    )

    def text(n: int) -> dict[str, str]:
        return inbound_params(from_=RAISER, to=TRUST_NUMBER, body=f"proxy text {n}")

    try:
        with running([web]):
            wait_http(f"http://127.0.0.1:{port}/healthz")
            # What a proxy in front sends for a request Twilio made over https, with an attacker's
            # X-Forwarded-Host and X-Forwarded-For passed along.
            proxied = {
                "Host": "candour.example",
                "X-Forwarded-Proto": "https",
                "X-Forwarded-Host": "evil.example",
                "X-Forwarded-For": FORWARDED_FOR,
            }
            signed = text(1)
            status, headers = _post_raw(
                port, SMS_PATH, signed, {**proxied, "X-Twilio-Signature": sign(token, BASE + SMS_PATH, signed)}
            )
            if behind_proxy:
                # Honoured: the request counts as https (no redirect), and the signature is checked
                # against CANDOUR_BASE_URL, not the forwarded host (evil.example is not even allowed).
                assert status == 200
            else:
                # Not honoured: plain http, redirected to https at the Host header's name, never
                # the forwarded one, and nothing stored.
                assert (status, headers.get("location")) == (301, BASE + SMS_PATH)
            # Without X-Forwarded-Proto the request is http whatever the setting: redirected.
            unforwarded = text(2)
            status, headers = _post_raw(
                port,
                SMS_PATH,
                unforwarded,
                {"Host": "candour.example", "X-Twilio-Signature": sign(token, BASE + SMS_PATH, unforwarded)},
            )
            assert (status, headers.get("location")) == (301, BASE + SMS_PATH)
            # A signature made for the address the forwarded headers claim is not Candour's address.
            steered = text(3)
            status, _ = _post_raw(
                port,
                SMS_PATH,
                steered,
                {**proxied, "X-Twilio-Signature": sign(token, "https://evil.example" + SMS_PATH, steered)},
            )
            assert status == (403 if behind_proxy else 301)
        log = web.output()
    finally:
        redis.Redis.from_url(broker).flushdb()

    stored = set(InboundSms.objects.values_list("message_sid", flat=True))
    assert stored == ({signed["MessageSid"]} if behind_proxy else set())
    assert FORWARDED_FOR not in log
    assert "evil.example" not in log
