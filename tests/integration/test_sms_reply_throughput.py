"""What keeps replies to texts quick under load (BENCHMARKS.md, SMS webhook): the processing task sends
its reply itself once it commits, rather than queueing a task behind every text that arrived meanwhile;
the texts have a queue of their own; and a worker keeps its database connection between tasks."""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from celery import current_app
from django.conf import settings as django_settings
from django.db import connection

from backend.concerns.models import InboundSms
from backend.concerns.sms import SMS_PROCESS_TASK, sms_inbound_process, sms_inbound_store
from notifications.models import Delivery, DeliveryStatus
from notifications.services import DELIVERIES_SEND_TASK, DELIVERY_SEND_TASK
from tests.support.fake_twilio import FakeTwilio, channel_settings, new_sid
from tests.support.processes import Proc, process_env, running, wait_for, worker_cmd

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

RAISER = "+447700900555"
TRUST_NUMBER = "+447700900101"


@pytest.fixture
def twilio(settings: Any) -> Iterator[FakeTwilio]:
    """A fake Twilio this process's SMS channel talks to."""
    with FakeTwilio() as server:
        channel_settings(settings, server)
        yield server


def _queued(broker: redis.Redis, queue: str) -> list[tuple[str, Any]]:
    """(task name, args) of each message waiting in a queue."""
    tasks = []
    for raw in broker.lrange(queue, 0, -1):
        message = json.loads(raw)
        body = message["body"]
        if message["properties"].get("body_encoding") == "base64":
            body = base64.b64decode(body)
        tasks.append((message["headers"]["task"], json.loads(body)[0]))
    return tasks


def test_the_reply_goes_out_with_the_processing_not_as_a_queued_task(demo: None, twilio: FakeTwilio) -> None:
    broker = redis.Redis.from_url(os.environ["CELERY_BROKER_URL"])
    for queue in ("celery", "sms"):
        broker.delete(queue)
    inbound_id = sms_inbound_store(
        message_sid=new_sid(), from_number=RAISER, to_number=TRUST_NUMBER, body="Nobody answers the bells"
    )
    assert inbound_id is not None
    # The webhook's commit queued the processing on the texts' queue, not the default one.
    assert _queued(broker, "sms") == [(SMS_PROCESS_TASK, [inbound_id])]
    assert SMS_PROCESS_TASK not in {task for task, _ in _queued(broker, "celery")}
    broker.delete("sms")

    assert sms_inbound_process(inbound_id=inbound_id) == "replied"

    # By the time the processing returns, Twilio has the reply...
    to_raiser = [m for m in twilio.messages if m["To"] == RAISER]
    assert len(to_raiser) == 1 and "your concern is received" in to_raiser[0]["Body"]
    reply = Delivery.objects.get(idempotency_key=f"sms:reply:{inbound_id}")
    assert reply.status == DeliveryStatus.SENT and reply.attempts == 1
    # ...and no task was queued to send it a second way (the guardians' notices still are).
    queued = _queued(broker, "celery")
    assert queued, "the guardians' notices of the new concern"
    assert [args for task, args in queued if task == DELIVERY_SEND_TASK and reply.pk in args] == []
    assert [args for task, args in queued if task == DELIVERIES_SEND_TASK and reply.pk in args[0]] == []


def test_a_reply_twilio_refuses_waits_for_the_sweep_and_the_text_stays_processed(
    demo: None, twilio: FakeTwilio
) -> None:
    inbound_id = sms_inbound_store(message_sid=new_sid(), from_number=RAISER, to_number=TRUST_NUMBER, body="HELP")
    assert inbound_id is not None
    twilio.down(status=503)
    assert sms_inbound_process(inbound_id=inbound_id) == "replied"
    assert twilio.messages == []
    # The text's work committed before the send was tried: processed and emptied, its reply in the
    # outbox with its next try, for the requeue sweep.
    inbound = InboundSms.objects.get(pk=inbound_id)
    assert inbound.processed_at is not None and inbound.payload == ""
    reply = Delivery.objects.get(idempotency_key=f"sms:reply:{inbound_id}")
    assert reply.status == DeliveryStatus.FAILED and reply.next_attempt_at is not None


def _worker_connections(database: str) -> list[tuple[int, Any]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid, backend_start FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"
            " AND backend_type = 'client backend'",
            [database],
        )
        return list(cursor.fetchall())


def _processed(worker: Proc) -> int:
    return sum(1 for line in worker.output().splitlines() if SMS_PROCESS_TASK + "[" in line and "succeeded in" in line)


def test_a_worker_keeps_its_database_connection_between_tasks(demo: None, twilio: FakeTwilio, tmp_path: Path) -> None:
    """Celery closes a task's connection after it unless CELERY_DB_REUSE_MAX is set: each task then
    paid for a new PostgreSQL session. With reuse, the worker's connection outlives its tasks."""
    database = django_settings.DATABASES["default"]["NAME"]
    assert _worker_connections(database) == []
    # Tasks earlier tests queued and no worker took: this worker's count of its tasks must be its own.
    broker = redis.Redis.from_url(os.environ["CELERY_BROKER_URL"])
    broker.delete("celery", "clocks", "sms")
    ids = [
        sms_inbound_store(message_sid=new_sid(), from_number=f"+44770090{n:04d}", to_number=TRUST_NUMBER, body="HELP")
        for n in range(6)
    ]
    env = process_env(TWILIO_API_BASE_URL=twilio.base_url, TWILIO_STATUS_CALLBACK="0")
    worker = Proc("worker", worker_cmd(concurrency=1), env, tmp_path / "worker.log")
    with running([worker]):
        try:
            wait_for(
                lambda: not InboundSms.objects.filter(pk__in=ids, processed_at=None).exists(),
                timeout=60,
                what="the worker to process every text",
            )
            wait_for(lambda: _processed(worker) == len(ids), timeout=30, what="every task")
            time.sleep(2)  # the redactions' tasks, which follow
        except AssertionError:
            raise AssertionError(worker.output()[-4000:]) from None
        first = {pid: start for pid, start in _worker_connections(database)}
        # Idle now, between tasks: with a connection closed after each task there would be none.
        assert first, "the worker closed its connection after its tasks"
        current_app.send_task(SMS_PROCESS_TASK, args=[ids[0]])  # done already: a task that reads
        wait_for(lambda: _processed(worker) == len(ids) + 1, timeout=30, what="one more task")
        after = {pid: start for pid, start in _worker_connections(database)}
        # The same session served the next task: none was opened for it.
        assert after.items() <= first.items(), (first, after)
        assert after
