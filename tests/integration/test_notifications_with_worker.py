"""Deliveries written in a committed transaction reach a real Celery worker on Redis, which sends each once.

The worker is another process, so it cannot share a locmem outbox: it uses the real e-mail channel with
Django's console e-mail backend, whose output lands in the worker's log, and the database says the rest.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from celery import current_app
from django.db import transaction
from django.utils import timezone

from notifications.models import Delivery, DeliveryStatus
from notifications.services import DELIVERY_SEND_TASK, DeliveryRequest, deliveries_create
from tests.support.processes import Proc, beat_cmd, process_env, running, wait_for, worker_cmd

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

FINAL = (DeliveryStatus.SENT, DeliveryStatus.DELIVERED)


def test_a_worker_sends_each_committed_delivery_exactly_once(tmp_path: Path) -> None:
    requests = [
        DeliveryRequest(
            idempotency_key=f"ntf-worker:{i}:email",
            channel="email",
            recipient=f"guardian{i}@example.org",
            subject=f"Candour: NTF-WORKER-{i} needs attention",
            body=f"Concern NTF-WORKER-{i} has had no recorded activity.",
        )
        for i in range(5)
    ]
    requests.append(DeliveryRequest(idempotency_key="ntf-worker:inbox", channel="in_app", recipient="17", subject="x"))
    # Written in the caller's transaction; the tasks reach Redis when it commits.
    with transaction.atomic():
        created = deliveries_create(requests=requests)
    # A second task for one delivery, as a broker redelivery or the sweep would send.
    current_app.send_task(DELIVERY_SEND_TASK, args=[created[0].pk])
    ids = [d.pk for d in created]

    env = process_env(DJANGO_EMAIL_BACKEND="django.core.mail.backends.console.EmailBackend")
    worker = Proc("worker", worker_cmd(), env, tmp_path / "worker.log")
    with running([worker]):

        def all_sent() -> bool:
            return Delivery.objects.filter(pk__in=ids, status__in=FINAL).count() == len(ids)

        try:
            wait_for(all_sent, timeout=60, what="the worker to send every delivery")
            # Let the duplicate task (and any redelivery) run before looking for double sends.
            # The rows written together went as one chunk task; the duplicate is a task of its own.
            wait_for(lambda: worker.output().count("succeeded in") >= 2, timeout=30, what="every task")
        except AssertionError:
            raise AssertionError(worker.output()[-4000:]) from None
    log = worker.output()

    rows = {d.idempotency_key: d for d in Delivery.objects.filter(pk__in=ids)}
    for request in requests[:5]:
        row = rows[request.idempotency_key]
        assert (row.status, row.attempts) == (DeliveryStatus.SENT, 1)
        assert row.sent_at is not None and row.provider_id.startswith("<delivery.")
        assert log.count(f"Subject: {request.subject}") == 1, log[-4000:]
    inbox = rows["ntf-worker:inbox"]
    assert (inbox.status, inbox.attempts) == (DeliveryStatus.DELIVERED, 1)


def test_beat_requeues_a_delivery_whose_task_was_lost(tmp_path: Path) -> None:
    """Written, committed, but no task ever reached the broker (it was down at commit): the sweep sends it."""
    lost = Delivery.objects.create(
        idempotency_key="ntf-worker:lost",
        channel="in_app",
        recipient="17",
        subject="lost",
        updated_at=timezone.now() - timedelta(minutes=3),
    )
    env = process_env(CANDOUR_REQUEUE_SECONDS="1")
    procs = [
        Proc("worker", worker_cmd(), env, tmp_path / "worker.log"),
        Proc("beat", beat_cmd(tmp_path / "beat-schedule"), env, tmp_path / "beat.log"),
    ]
    with running(procs):
        try:
            wait_for(
                lambda: Delivery.objects.filter(pk=lost.pk, status=DeliveryStatus.DELIVERED).exists(),
                timeout=60,
                what="the sweep to requeue the lost delivery",
            )
        except AssertionError:
            raise AssertionError(procs[0].output()[-3000:] + procs[1].output()[-2000:]) from None
    lost.refresh_from_db()
    assert lost.attempts == 1  # requeued once, then fresh: later sweeps left it alone
    assert "deliveries_requeue_stale" in procs[0].output()
