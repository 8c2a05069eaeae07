"""A raise that got a receipt survives any crash, and a raise cut short leaves nothing half-written.

gunicorn takes a stream of API raises from several threads while the test, at random moments, either
SIGKILLs the whole of gunicorn (master and workers, mid-request) and starts it again, or has
PostgreSQL terminate every connection gunicorn holds (as a database restart would). Afterwards:
every response that carried a receipt names a concern that exists, with its receipt, its first
Event, its clocks and an audit chain that verifies; and every concern in the database is whole,
whether or not its raiser ever saw the answer. CANDOUR_FAULT_KILLS sets the number of crashes.
"""

from __future__ import annotations

import os
import random
import threading
from pathlib import Path

import pytest
import requests
from django.db import connection

from backend.concerns.audit import audit_verify
from backend.concerns.crypto import receipt_digest, receipt_normalise
from backend.concerns.models import Clock, Concern, Event, Receipt
from tests.support.processes import BIN, Proc, free_port, process_env, running, wait_http

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

KILLS = int(os.environ.get("CANDOUR_FAULT_KILLS", "6"))
THREADS = 6


def _web(port: int, log: Path) -> Proc:
    cmd = [str(BIN / "gunicorn"), "backend.config.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "2"]
    web = Proc("web", cmd, process_env(), log)
    wait_http(f"http://127.0.0.1:{port}/healthz")
    return web


def _terminate_other_backends() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        )
        return int(cursor.fetchone()[0])


def test_every_receipt_given_survives_crashes_mid_intake(demo: None, tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/api/v1/concerns/raise/"
    receipts: list[tuple[str, str]] = []  # (reference, receipt) from each 201
    failures: list[str] = []
    cut: list[int] = []  # requests that got no answer: the crash caught them mid-flight
    stop = threading.Event()
    lock = threading.Lock()

    def raiser(n: int) -> None:
        session = requests.Session()
        i = 0
        while not stop.is_set():
            i += 1
            body = {
                "unit": random.choice(["RNX07", "RNXMAT", "RCXDNE"]),
                "raiser_kind": "staff",
                "identity_mode": random.choice(["anonymous", "named"]),
                "raiser_name": "Crash Canary",
                "themes": random.sample(["patient_safety", "bullying", "worker_safety", "other"], 2),
                "what_happened": f"thread {n} concern {i}: " + "staffing on nights " * random.randint(1, 50),
            }
            try:
                response = session.post(url, json=body, timeout=10)
            except requests.RequestException:
                session = requests.Session()  # the server died mid-request: no answer, no receipt
                with lock:
                    cut.append(n)
                continue
            if response.status_code == 201:
                with lock:
                    receipts.append((response.json()["reference"], response.json()["receipt"]))
            elif response.status_code < 500:
                with lock:
                    failures.append(f"{response.status_code} {response.text[:200]}")

    web = _web(port, tmp_path / "web.log")
    threads = [threading.Thread(target=raiser, args=(n,), daemon=True) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    rng = random.Random(20261127)
    terminated = 0
    try:
        for kill in range(KILLS):
            stop.wait(rng.uniform(0.4, 1.2))
            if kill % 2 == 0:
                web.stop(sig=9)
                web = _web(port, tmp_path / "web.log")
            else:
                terminated += _terminate_other_backends()
        stop.wait(1.0)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=15)
        with running([web]):
            pass

    assert not failures, failures[:5]
    assert len(receipts) > KILLS, "too few raises answered to say anything"
    assert terminated > 0, "no database connection was cut"
    assert cut, "no request was caught mid-flight"
    # Every receipt handed out opens its concern, whole.
    for reference, receipt in receipts:
        row = Receipt.objects.select_related("concern").get(digest=receipt_digest(receipt_normalise(receipt) or ""))
        assert row.concern.reference == reference
    # Every concern written, answered or not, is whole: receipt, first Event, clocks, chain head.
    concerns = Concern.objects.count()
    assert concerns >= len(receipts)
    assert Receipt.objects.count() == concerns
    assert Event.objects.filter(seq=1, kind="raised").count() == concerns
    assert not Concern.objects.exclude(pk__in=Clock.objects.values("concern_id")).exists()
    assert not Concern.objects.filter(audit_seq=0).exists()
    assert all(isinstance(result, int) for result in audit_verify())
