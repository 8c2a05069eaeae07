"""Twilio forgets the words: once Candour is done with a text, in or out, Twilio is asked to empty its
body, and the fake Twilio (tests/support/fake_twilio.py, which keeps bodies as Twilio does and
refuses a redaction before a message's final status with error 30400) is left holding none.

Through real processes (gunicorn answering Twilio's webhooks, a Celery worker and beat on Redis,
PostgreSQL): a processed inbound text and a delivered outbound text leave no body at Twilio; a
redaction asked too early is retried by the worker and succeeds once the message is final; a
redaction task the broker lost is sent again by the beat's sweep. In this process, with the services
called as the tasks call them: each final status (delivered, undelivered, failed), a photo's media,
Twilio's other answers (gone, refused, down), the waits and the give-up, and that nothing of the
text reaches a log line or a row.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import redis
from django.db import transaction
from django.test import Client
from django.utils import timezone

from backend.concerns.crypto import ContactSpace
from backend.concerns.models import Concern, InboundSms
from backend.concerns.sms import sms_inbound_process, sms_inbound_requeue_stale, sms_inbound_store
from backend.concerns.vault import vault_store
from notifications.models import Delivery, DeliveryStatus, Direction, Redaction, RedactionStatus
from notifications.redactions import (
    ATTEMPT_HOLD,
    FINAL_STATUS_WAIT,
    MAX_REQUEUES,
    REDACTION_RUN_TASK,
    RetryableRedactionError,
    redaction_run,
    redactions_requeue_stale,
)
from notifications.services import DeliveryRequest, deliveries_create, delivery_send
from tests.support.fake_twilio import FakeTwilio, channel_settings, sign, status_callback_params
from tests.support.processes import (
    BIN,
    Proc,
    beat_cmd,
    free_port,
    process_env,
    running,
    wait_for,
    wait_http,
    worker_cmd,
)
from tests.support.sent_tasks import redactions_sent, tasks_sent_after_commit

BASE = "https://candour.example"
RAISER = "+447700900562"
TRUST_NUMBER = "+447700900101"  # RNX in the demo
WORDS = "Agency staff on ward 7 are told to sign for checks they never did"
REPLY_WORDS = "Candour: which night was this?"
TOKEN = "tok_raiser"


def resolve(token: str) -> str | None:
    """Stands in for the contact vault in the tests that send without a concern."""
    return RAISER if token == TOKEN else None


@pytest.fixture
def fake(settings: Any) -> Iterator[FakeTwilio]:
    """A fake Twilio this process's SMS channel talks to; webhooks are checked against BASE."""
    with FakeTwilio() as server:
        channel_settings(settings, server, status_callback=True)
        settings.CANDOUR_BASE_URL = BASE
        settings.NOTIFICATIONS_SMS_RESOLVER = f"{__name__}.resolve"
        yield server


def _leaks(caplog: pytest.LogCaptureFixture, *secrets: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if any(s in r.getMessage() + repr(r.args) + (r.exc_text or "") for s in secrets)
    ]


def _sent(fake: FakeTwilio, *, key: str = "redaction:1", body: str = REPLY_WORDS) -> Delivery:
    """An outbound text Twilio has accepted (status queued at Twilio)."""
    delivery = Delivery.objects.create(idempotency_key=key, channel="sms", recipient=TOKEN, body=body, private=True)
    assert delivery_send(delivery_id=delivery.pk) == DeliveryStatus.SENT
    delivery.refresh_from_db()
    assert fake.bodies_held()[delivery.provider_id] == body
    return delivery


def _status_callback(sid: str, status: str, token: str) -> int:
    params = status_callback_params(sid, status, to=RAISER)
    url = BASE + "/twilio/status/"
    response = Client().post(
        "/twilio/status/",
        data=urlencode(params),
        content_type="application/x-www-form-urlencoded",
        HTTP_X_TWILIO_SIGNATURE=sign(token, url, params),
    )
    return int(response.status_code)


def _run_until_done(redaction_id: int, *, attempts: int = 5) -> list[str]:
    """What the task does: call the service again after each retryable failure."""
    outcomes = []
    for _ in range(attempts):
        try:
            outcomes.append(redaction_run(redaction_id=redaction_id))
            break
        except RetryableRedactionError:
            outcomes.append("retry")
    return outcomes


# -- in this process: the services as the tasks call them ---------------------------------------


@pytest.mark.django_db
def test_a_processed_inbound_text_and_its_photos_are_forgotten_by_twilio(
    demo: None,
    fake: FakeTwilio,
    caplog: pytest.LogCaptureFixture,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    caplog.set_level(logging.DEBUG)
    params = fake.receive(from_=RAISER, to=TRUST_NUMBER, body=WORDS, media=2)
    sid = params["MessageSid"]
    inbound_id = sms_inbound_store(message_sid=sid, from_number=RAISER, to_number=TRUST_NUMBER, body=WORDS)
    assert inbound_id is not None
    assert Redaction.objects.count() == 0  # stored, not processed: Twilio's copy is still needed
    with tasks_sent_after_commit(django_capture_on_commit_callbacks) as sent:
        assert sms_inbound_process(inbound_id=inbound_id) == "replied"
    [redaction_id] = redactions_sent(sent)  # asked after the processing committed
    assert fake.bodies_held()[sid] == WORDS
    assert redaction_run(redaction_id=redaction_id) == RedactionStatus.REDACTED
    assert sid not in fake.bodies_held()
    assert sid not in fake.media_held()  # the photos too
    row = Redaction.objects.get(pk=redaction_id)
    assert (row.provider_id, row.direction, row.status, row.attempts) == (sid, Direction.INBOUND, "redacted", 1)
    # Kept to the hour, like every lasting time of an anonymous raiser's text.
    assert row.redacted_at is not None and row.redacted_at == row.redacted_at.replace(minute=0, second=0, microsecond=0)
    assert row.created_at == row.created_at.replace(minute=0, second=0, microsecond=0)
    assert Concern.objects.count() == 1
    assert _leaks(caplog, RAISER, RAISER[3:], WORDS) == []
    assert RAISER[3:] not in str(list(Redaction.objects.values()))


@pytest.mark.django_db
@pytest.mark.parametrize("final", ["delivered", "undelivered", "failed"])
def test_an_outbound_text_is_forgotten_once_its_final_status_arrives(
    fake: FakeTwilio,
    final: str,
    caplog: pytest.LogCaptureFixture,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    caplog.set_level(logging.DEBUG)
    delivery = _sent(fake)
    [row] = Redaction.objects.all()
    # Accepted: a row waits for the final status, and no task is sent before it.
    assert (row.provider_id, row.direction, row.status) == (delivery.provider_id, Direction.OUTBOUND, "pending")
    assert row.retry_at > timezone.now() + FINAL_STATUS_WAIT - timedelta(minutes=1)
    fake.set_status(delivery.provider_id, "sent")
    with tasks_sent_after_commit(django_capture_on_commit_callbacks) as sent:
        assert _status_callback(delivery.provider_id, "sent", fake.auth_token) == 204
    assert sent == []  # sent is not final: Twilio would refuse
    fake.set_status(delivery.provider_id, final)
    with tasks_sent_after_commit(django_capture_on_commit_callbacks) as sent:
        assert _status_callback(delivery.provider_id, final, fake.auth_token) == 204
    assert redactions_sent(sent) == [row.pk]
    assert redaction_run(redaction_id=row.pk) == RedactionStatus.REDACTED
    assert fake.bodies_held() == {}
    assert fake.redactions == [(delivery.provider_id, 200)]
    assert _leaks(caplog, RAISER, RAISER[3:], REPLY_WORDS) == []


@pytest.mark.django_db
def test_a_redaction_asked_too_early_is_retried_and_later_succeeds(
    fake: FakeTwilio, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    delivery = _sent(fake)
    # Twilio's callback says delivered before its API does (or the sweep asks before any callback).
    fake.set_status(delivery.provider_id, "sent")
    with tasks_sent_after_commit(django_capture_on_commit_callbacks) as sent:
        assert _status_callback(delivery.provider_id, "delivered", fake.auth_token) == 204
    [redaction_id] = redactions_sent(sent)
    assert _run_until_done(redaction_id, attempts=2) == ["retry", "retry"]
    assert fake.redactions == [(delivery.provider_id, 400)] * 2
    row = Redaction.objects.get(pk=redaction_id)
    assert (row.status, row.attempts, row.last_error) == ("pending", 2, "NotFinalYet: twilio http 400 code 30400")
    # The sweep leaves it to Celery's retries meanwhile.
    assert row.retry_at > timezone.now() + ATTEMPT_HOLD - timedelta(minutes=1)
    assert fake.bodies_held() == {delivery.provider_id: REPLY_WORDS}
    fake.set_status(delivery.provider_id, "delivered")
    assert _run_until_done(redaction_id) == [RedactionStatus.REDACTED]
    assert fake.bodies_held() == {}


@pytest.mark.django_db
def test_twilios_other_answers(fake: FakeTwilio) -> None:
    # A message Twilio no longer holds (deleted) has nothing left to forget.
    gone = Redaction.objects.create(provider_id="SMunknown", direction="outbound", retry_at=timezone.now())
    assert redaction_run(redaction_id=gone.pk) == RedactionStatus.GONE
    assert Redaction.objects.get(pk=gone.pk).redacted_at is not None
    # Down or rate limited: tried again.
    delivery = _sent(fake, key="redaction:2")
    fake.set_status(delivery.provider_id, "delivered")
    row = Redaction.objects.get(provider_id=delivery.provider_id)
    fake.fail_next(2, status=503, code=20503, on="redact")
    assert _run_until_done(row.pk) == ["retry", "retry", RedactionStatus.REDACTED]
    # Refused for good (a 4xx other than "not final yet"): given up, not retried for ever.
    other = _sent(fake, key="redaction:3")
    fake.set_status(other.provider_id, "delivered")
    fake.fail_next(1, status=400, code=21610, on="redact")
    refused = Redaction.objects.get(provider_id=other.provider_id)
    assert _run_until_done(refused.pk) == [RedactionStatus.GIVEN_UP]
    assert "21610" in Redaction.objects.get(pk=refused.pk).last_error
    assert fake.bodies_held() == {other.provider_id: REPLY_WORDS}  # the operator's to look into


@pytest.mark.django_db
def test_the_sweep_sends_again_what_was_lost_with_longer_waits_then_gives_up(
    django_capture_on_commit_callbacks: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    now = timezone.now()
    lost = Redaction.objects.create(provider_id="SMlost", direction="inbound", retry_at=now - timedelta(seconds=1))
    later = Redaction.objects.create(provider_id="SMlater", direction="inbound", retry_at=now + timedelta(minutes=1))
    done = Redaction.objects.create(
        provider_id="SMdone", direction="inbound", retry_at=now - timedelta(hours=1), status="redacted"
    )
    with tasks_sent_after_commit(django_capture_on_commit_callbacks) as sent:
        assert redactions_requeue_stale(now=now) == 1
    assert redactions_sent(sent) == [lost.pk]  # not the one still within its time, nor the one done
    assert Redaction.objects.get(pk=later.pk).requeues == 0
    waits = []
    at = now
    for _ in range(MAX_REQUEUES - 1):
        row = Redaction.objects.get(pk=lost.pk)
        waits.append(row.retry_at - at)
        at = row.retry_at + timedelta(seconds=1)
        with tasks_sent_after_commit(django_capture_on_commit_callbacks) as sent:
            assert redactions_requeue_stale(now=at) >= 1
    assert waits[:3] == [ATTEMPT_HOLD, 2 * ATTEMPT_HOLD, 4 * ATTEMPT_HOLD]  # each wait twice the last
    assert max(waits) == 64 * ATTEMPT_HOLD  # up to a cap
    row = Redaction.objects.get(pk=lost.pk)
    with caplog.at_level(logging.ERROR), tasks_sent_after_commit(django_capture_on_commit_callbacks) as sent:
        redactions_requeue_stale(now=row.retry_at + timedelta(seconds=1))
    assert lost.pk not in redactions_sent(sent)
    assert Redaction.objects.get(pk=lost.pk).status == RedactionStatus.GIVEN_UP
    assert any("given up" in r.getMessage() for r in caplog.records)
    assert Redaction.objects.get(pk=done.pk).status == "redacted"  # never touched


@pytest.mark.django_db
def test_an_outbound_text_whose_final_status_never_comes_is_asked_about_all_the_same(
    fake: FakeTwilio, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    delivery = _sent(fake)  # status callbacks lost, or turned off
    row = Redaction.objects.get()
    with tasks_sent_after_commit(django_capture_on_commit_callbacks) as sent:
        assert redactions_requeue_stale(now=timezone.now()) == 0  # waiting for the callback
        assert redactions_requeue_stale(now=row.retry_at + timedelta(seconds=1)) == 1
    assert redactions_sent(sent) == [row.pk]
    fake.set_status(delivery.provider_id, "delivered")
    assert redaction_run(redaction_id=row.pk) == RedactionStatus.REDACTED
    assert fake.bodies_held() == {}


@pytest.mark.django_db
def test_a_text_given_up_unprocessed_is_forgotten_by_twilio_too(
    demo: None, fake: FakeTwilio, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    params = fake.receive(from_=RAISER, to=TRUST_NUMBER, body=WORDS)
    inbound_id = sms_inbound_store(
        message_sid=params["MessageSid"], from_number=RAISER, to_number=TRUST_NUMBER, body=WORDS
    )
    InboundSms.objects.filter(pk=inbound_id).update(requeues=5, retry_at=timezone.now() - timedelta(seconds=1))
    with tasks_sent_after_commit(django_capture_on_commit_callbacks) as sent:
        sms_inbound_requeue_stale(max_requeues=5)
    [redaction_id] = redactions_sent(sent)
    assert redaction_run(redaction_id=redaction_id) == RedactionStatus.REDACTED
    assert fake.bodies_held() == {}


@pytest.mark.django_db
def test_a_channel_that_keeps_nothing_writes_no_redaction(settings: Any) -> None:
    settings.NOTIFICATIONS_CHANNELS = {"sms": "notifications.channels.console.ConsoleChannel"}
    delivery = Delivery.objects.create(idempotency_key="console:1", channel="sms", recipient=TOKEN, body="x")
    assert delivery_send(delivery_id=delivery.pk) == DeliveryStatus.SENT
    assert delivery_send(delivery_id=delivery.pk) == DeliveryStatus.SENT
    email = Delivery.objects.create(idempotency_key="mail:1", channel="email", recipient="g@example.org", body="x")
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert delivery_send(delivery_id=email.pk) == DeliveryStatus.SENT
    assert Redaction.objects.count() == 0


# -- real processes --------------------------------------------------------------------------------


def _web(port: int, env: dict[str, str], log: Path) -> Proc:
    return Proc(
        "web",
        [str(BIN / "gunicorn"), "backend.config.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
        env,
        log,
    )


def _wait(predicate: Callable[[], bool], what: str, procs: list[Proc], timeout: float = 60) -> None:
    try:
        wait_for(predicate, timeout=timeout, what=what)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n" + "\n".join(p.output()[-3000:] for p in procs)) from None


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_with_a_worker_a_processed_text_and_a_delivered_reply_leave_no_body_at_twilio(
    demo: None, tmp_path: Path
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with FakeTwilio(auto_callbacks=True, webhook_base=base) as twilio:
        env = process_env(CANDOUR_BASE_URL=base, TWILIO_API_BASE_URL=twilio.base_url, CANDOUR_SWEEP_SECONDS="3600")
        procs = [_web(port, env, tmp_path / "web.log"), Proc("worker", worker_cmd(), env, tmp_path / "worker.log")]
        with running(procs):
            wait_http(f"{base}/healthz")
            status, _ = twilio.send_inbound(f"{base}/twilio/sms/", from_=RAISER, to=TRUST_NUMBER, body=WORDS)
            assert status == 200
            # The text is processed (a concern raised), the reply sent, reported delivered by
            # Twilio, and both are redacted: Twilio holds no body at all.
            _wait(lambda: len(twilio.messages) >= 1, "the reply to reach Twilio", procs)
            _wait(lambda: twilio.bodies_held() == {}, "Twilio to hold no body", procs)
            _wait(
                lambda: not Redaction.objects.exclude(status=RedactionStatus.REDACTED).exists(),
                "the rows to say so",
                procs,
            )
        inbound_sid = InboundSms.objects.get().message_sid
        reply_sid = Delivery.objects.get(idempotency_key__startswith="sms:reply:").provider_id
    assert "your concern is received" in twilio.messages[0]["Body"]  # it was sent; Twilio no longer has it
    assert twilio.messages[0]["sid"] == reply_sid
    rows = dict(Redaction.objects.values_list("provider_id", "direction"))
    assert (rows[inbound_sid], rows[reply_sid]) == ("inbound", "outbound")
    assert set(rows) == {m["sid"] for m in twilio.messages} | {inbound_sid}  # every text, in and out
    assert Concern.objects.count() == 1


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_with_a_worker_a_redaction_too_early_is_retried_until_twilio_takes_it(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    # The worker finds the number in the vault, as for any text to a raiser.
    token = vault_store(number=RAISER, now=timezone.now(), space=ContactSpace.RAISER)
    with FakeTwilio(webhook_base=base) as twilio:
        env = process_env(CANDOUR_BASE_URL=base, TWILIO_API_BASE_URL=twilio.base_url, CANDOUR_SWEEP_SECONDS="3600")
        procs = [_web(port, env, tmp_path / "web.log"), Proc("worker", worker_cmd(), env, tmp_path / "worker.log")]
        with running(procs):
            wait_http(f"{base}/healthz")
            with transaction.atomic():
                [delivery] = deliveries_create(
                    requests=[
                        DeliveryRequest(
                            idempotency_key="early:1", channel="sms", recipient=token, body=REPLY_WORDS, private=True
                        )
                    ]
                )
            _wait(lambda: len(twilio.messages) == 1, "the text to reach Twilio", procs)
            sid = twilio.messages[0]["sid"]
            _wait(lambda: Redaction.objects.filter(provider_id=sid).exists(), "its row", procs)
            # Twilio reports delivered to Candour while its API still has the message as sent.
            twilio.set_status(sid, "sent")
            assert twilio.report(sid, "delivered") == 204
            _wait(lambda: [c for s, c in twilio.redactions if s == sid].count(400) >= 2, "two refusals", procs)
            assert twilio.bodies_held() == {sid: REPLY_WORDS}
            twilio.set_status(sid, "delivered")
            _wait(lambda: twilio.bodies_held() == {}, "the retry to redact it", procs)
            _wait(lambda: Redaction.objects.get(provider_id=sid).status == "redacted", "the row to say so", procs)
        log = procs[1].output()
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED
    row = Redaction.objects.get(provider_id=sid)
    assert row.attempts >= 3
    assert "Retry in" in log  # Celery's own retries, with backoff
    assert REPLY_WORDS not in log and RAISER[3:] not in log


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_a_lost_redaction_task_is_picked_up_by_the_sweep(demo: None, tmp_path: Path, settings: Any) -> None:
    # The text is processed here, as the worker would, and its redaction task reaches Redis after
    # commit; then Redis loses it (the queue is dropped) before any worker is up.
    settings.CANDOUR_REQUEUE_AFTER_SECONDS = 1
    with FakeTwilio() as twilio:
        settings.TWILIO_API_BASE_URL = twilio.base_url
        params = twilio.receive(from_=RAISER, to=TRUST_NUMBER, body="HELP")
        sid = params["MessageSid"]
        inbound_id = sms_inbound_store(message_sid=sid, from_number=RAISER, to_number=TRUST_NUMBER, body="HELP")
        assert inbound_id is not None
        assert sms_inbound_process(inbound_id=inbound_id) == "replied"
        broker = redis.Redis.from_url(os.environ["CELERY_BROKER_URL"])
        # On the texts' queue (CELERY_TASK_ROUTES).
        assert REDACTION_RUN_TASK.encode() in b"".join(broker.lrange("sms", 0, -1))
        broker.delete("sms")  # lost
        assert Redaction.objects.get(provider_id=sid).status == "pending"

        env = process_env(
            TWILIO_API_BASE_URL=twilio.base_url,
            CANDOUR_REQUEUE_SECONDS="1",
            CANDOUR_REQUEUE_AFTER_SECONDS="1",
            CANDOUR_SWEEP_SECONDS="3600",
            TWILIO_STATUS_CALLBACK="0",
        )
        procs = [
            Proc("worker", worker_cmd(), env, tmp_path / "worker.log"),
            Proc("beat", beat_cmd(tmp_path / "beat-schedule"), env, tmp_path / "beat.log"),
        ]
        with running(procs):
            _wait(lambda: sid not in twilio.bodies_held(), "the sweep to have the text redacted", procs)
            _wait(lambda: Redaction.objects.get(provider_id=sid).status == "redacted", "the row to say so", procs)
        log = procs[0].output()
    row = Redaction.objects.get(provider_id=sid)
    assert row.requeues >= 1  # sent again by the sweep
    assert "redactions_requeue_stale" in log
