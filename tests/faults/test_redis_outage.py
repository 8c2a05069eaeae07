"""Redis stops while alerts are being created, then comes back: every alert is delivered exactly once.

The outbox rows are written with their cause whatever the broker is doing; the send tasks that could
not be queued are found by the requeue sweep once Redis is back.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from django.db.models import Count

from backend.concerns import services
from backend.organisations.models import Organisation
from notifications.models import Delivery
from tests.support.factories import ConcernFactory
from tests.support.processes import Proc, beat_cmd, process_env, running, wait_for, worker_cmd

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def _redis_stop() -> None:
    pidfile = Path(os.environ["CANDOUR_SERVICES_DIR"]) / "redis" / "redis.pid"
    pid = int(pidfile.read_text())
    os.kill(pid, signal.SIGTERM)
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    raise AssertionError("redis did not stop")


def _redis_start() -> None:
    folder = Path(os.environ["CANDOUR_SERVICES_DIR"]) / "redis"
    subprocess.run(
        [
            "redis-server",
            "--port",
            os.environ["CANDOUR_REDIS_PORT"],
            "--bind",
            "127.0.0.1",
            "--daemonize",
            "yes",
            "--dir",
            str(folder),
            "--pidfile",
            str(folder / "redis.pid"),
            "--logfile",
            str(folder / "redis.log"),
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        check=True,
    )


def test_alerts_created_while_redis_is_down_are_each_delivered_once(demo: None, tmp_path: Path) -> None:
    env = process_env(
        CANDOUR_REQUEUE_SECONDS="1",
        CANDOUR_REQUEUE_AFTER_SECONDS="2",
        CANDOUR_SWEEP_SECONDS="3600",
        DJANGO_EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
    )
    procs = [
        Proc("worker", worker_cmd(), env, tmp_path / "worker.log"),
        Proc("beat", beat_cmd(tmp_path / "beat-schedule"), env, tmp_path / "beat.log"),
    ]
    ward = Organisation.objects.get(code="RNX07")
    with running(procs):
        time.sleep(3)  # let the worker connect before the outage
        _redis_stop()
        try:
            for i in range(5):
                # Named: an anonymous raiser's notices wait for their hour to close, and this test is
                # about an outage, not that wait.
                concern = ConcernFactory(
                    unit=ward, themes=["other"], identity_mode="named", raiser_name="N", what_happened=f"outage {i}"
                )
                # Detriment opens an alert and writes its notices, with Redis down.
                services.concern_message_from_raiser(concern_id=concern.pk, body="moved", kind="detriment")
        finally:
            _redis_start()
        expected = Delivery.objects.count()
        assert expected >= 10  # an in-app and an e-mail notice per alert, at least

        def all_delivered() -> bool:
            return not Delivery.objects.exclude(status__in=["sent", "delivered"]).exists()

        try:
            wait_for(all_delivered, timeout=90, what="every delivery to go out")
        except AssertionError:
            raise AssertionError(procs[0].output()[-3000:]) from None
    assert Delivery.objects.count() == expected
    # Exactly once: one attempt each, and no idempotency key twice.
    assert set(Delivery.objects.values_list("attempts", flat=True)) == {1}
    assert not Delivery.objects.values("idempotency_key").annotate(n=Count("pk")).filter(n__gt=1).exists()
