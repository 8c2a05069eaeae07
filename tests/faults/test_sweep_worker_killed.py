"""SIGKILL the Celery worker in the middle of a clock sweep, again and again: every clock fires once.

Thousands of acknowledge clocks are due. A real worker on Redis runs the sweep task; once a batch has
committed and the next has begun, the worker's whole process group is killed at a random moment in
that batch, a new worker takes over, and so on KILLS times. The sweep commits batch by batch, so a kill
throws away the batch in flight and nothing else: in the end every clock that was due has fired
exactly once and every concern has escalated exactly once, with an intact audit chain and one
running clock of each kind at its new level.

The replacement workers boot while the one about to be killed sweeps (as a supervisor keeping spares
would): a worker takes seconds to boot, and the boots would otherwise be most of the test. The sweep
tasks go to queues and a Redis database of this test's own: the killed workers' unacked messages and
the notices nobody here sends stay there, and are flushed at the end. Two sweeps at once are
tests/faults/test_two_beats.py's subject.

``CANDOUR_FAULT_KILLS`` sets the number of kills (``make bench`` runs more); ``CANDOUR_FAULT_SEED``
replays the kill moments of an earlier run (each run prints its seed).
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import time
from collections import deque
from datetime import timedelta
from pathlib import Path

import pytest
from django.db.models import Count
from django.utils import timezone

from backend.concerns.audit import BrokenLink, audit_verify
from backend.concerns.models import Clock, ClockStatus, Concern, Event
from backend.concerns.services.sweep import SWEEP_BATCH
from backend.organisations.models import Organisation
from backend.oversight.models import Alert
from notifications.models import Delivery
from tests.support.faults import (
    database_url_named,
    redis_broker_url,
    redis_flush,
    sessions_open,
    tasks_send,
    transactions_open,
    worker_ready,
)
from tests.support.processes import Proc, process_env, wait_for, worker_cmd
from tests.support.seeding import acknowledge_due, concerns_seed

KILLS = int(os.environ.get("CANDOUR_FAULT_KILLS") or 10)
SEED = int(os.environ.get("CANDOUR_FAULT_SEED") or random.SystemRandom().randrange(2**32))

pytestmark = [
    pytest.mark.services,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(120 + 15 * KILLS),
]

SWEEP_TASK = "workflows.tasks.clocks_sweep"
BATCH = SWEEP_BATCH  # what the task sweeps with
BROKER_DB = 11
# Workers booting ahead of the one sweeping, to take over the moment it is killed.
SPARES = 2
# Due concerns are added whenever fewer than two batches are left before a worker starts sweeping:
# one to commit, one to kill. A kill costs about a batch; ``make bench`` kills many more times.
REFILL, REFILL_BELOW = 3 * BATCH, 2 * BATCH
# The kill comes up to this share of the first batch's time into the next (a first batch is slower).
KILL_WITHIN = 0.6


def _fired() -> int:
    return Clock.objects.filter(kind="acknowledge", route_level=0, status=ClockStatus.FIRED).count()


def _waiting() -> int:
    return Clock.objects.filter(kind="acknowledge", route_level=0, status=ClockStatus.PENDING).count()


def _batch_watch(application_name: str, *, before: int, timeout: float = 60) -> tuple[float, float]:
    """Wait for a batch to commit and the next to begin; when the first opened and committed."""
    start = time.monotonic()
    opened = committed = None
    while time.monotonic() - start < timeout:
        now, in_flight = time.monotonic(), transactions_open(application_name) > 0
        if committed is not None and in_flight:
            return opened or start, committed
        if committed is None and in_flight and opened is None:
            opened = now
        if committed is None and _fired() > before:
            committed = now
        time.sleep(0.02)
    raise AssertionError(f"no batch committed and another began within {timeout}s")


def test_sweep_survives_its_worker_killed_mid_batch(demo: None, tmp_path: Path) -> None:
    print(f"CANDOUR_FAULT_SEED={SEED} CANDOUR_FAULT_KILLS={KILLS}")
    rng = random.Random(SEED)
    broker = redis_broker_url(db=BROKER_DB)
    redis_flush(broker)  # nothing left from an interrupted run
    ward = Organisation.objects.get(code="RNX07")
    due_ids: list[int] = []

    def refill() -> None:
        ids = concerns_seed(unit=ward, count=REFILL)
        acknowledge_due(concern_ids=ids, at=timezone.now() - timedelta(minutes=1))
        due_ids.extend(ids)

    workers: list[Proc] = []

    def worker() -> Proc:
        name = f"fault-sweeper{len(workers)}"
        env = process_env(CELERY_BROKER_URL=broker, DATABASE_URL=database_url_named(name))
        # A queue each: a spare must not take the sweep meant for the worker about to be killed.
        cmd = [*worker_cmd(concurrency=1, name=name), "-Q", name]
        workers.append(Proc(name, cmd, env, tmp_path / f"{name}.log"))
        return workers[-1]

    started = time.monotonic()
    refill()
    current = worker()
    spares: deque[Proc] = deque()
    kills = in_flight = rounds = 0
    try:
        while kills < KILLS:
            rounds += 1
            assert rounds <= 2 * KILLS, f"only {kills} of {rounds - 1} kills landed while clocks were firing"
            if _waiting() < REFILL_BELOW:
                refill()
            worker_ready(current)
            before = _fired()
            tasks_send(SWEEP_TASK, broker=broker, queue=current.name)
            while len(spares) < SPARES:
                spares.append(worker())
            # Watch the worker: a batch opens its transaction and commits (the fired count rises); then
            # its notices are queued, outside the transaction; then the next batch opens. The kill
            # comes a random moment into that next batch.
            opened, committed = _batch_watch(current.name, before=before)
            time.sleep(rng.uniform(0, KILL_WITHIN * (committed - opened)))
            batch_open = transactions_open(current.name) > 0
            fired, waiting = _fired(), _waiting()
            current.stop(sig=signal.SIGKILL)
            print(f"{time.monotonic() - started:5.1f}s kill {rounds}: {fired} fired, {waiting} due, {batch_open=}")
            # Until PostgreSQL has ended the dead worker's session, the rows its batch locked are
            # skipped by the next sweep, which may then find too little to sweep for the next kill.
            wait_for(lambda name=current.name: sessions_open(name) == 0, timeout=30, what="the killed session to end")
            if fired > 0 and waiting > 0:  # some fired, some still due: the sweep was under way
                kills += 1
                in_flight += batch_open
            current = spares.popleft()
        killed_at = time.monotonic()
        for spare in spares:
            spare.stop()
        # The last worker sweeps what is left, sent a sweep task now and then as beat would.
        worker_ready(current)
        deadline = time.monotonic() + 120
        while _waiting() and time.monotonic() < deadline:
            tasks_send(SWEEP_TASK, broker=broker, queue=current.name)
            with contextlib.suppress(AssertionError):
                wait_for(lambda: _waiting() == 0, timeout=5, interval=0.25)
        assert _waiting() == 0, "clocks still due two minutes after the last kill"
        current.stop()
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n== {current.name}\n{current.output()[-3000:]}") from None
    finally:
        for proc in workers:
            proc.stop(sig=signal.SIGKILL)
        redis_flush(broker)
    total = len(due_ids)
    print(
        f"{total} due clocks, {kills} kills ({in_flight} inside a batch's transaction) in "
        f"{killed_at - started:.1f}s; the rest fired {time.monotonic() - killed_at:.1f}s later"
    )
    # Most kills caught a batch in its transaction: otherwise this test would test too little.
    assert in_flight >= KILLS // 2

    assert Concern.objects.count() == total
    # Every clock that was due fired exactly once: one row per concern, kind and level, and it fired.
    assert Clock.objects.filter(kind="acknowledge", route_level=0, status=ClockStatus.FIRED).count() == total
    assert not Clock.objects.values("concern_id", "kind", "route_level").annotate(n=Count("pk")).filter(n__gt=1)
    # No concern has two running clocks of a kind, and each runs its new level's acknowledge clock.
    pending = Clock.objects.filter(status=ClockStatus.PENDING)
    assert not pending.values("concern_id", "kind").annotate(n=Count("pk")).filter(n__gt=1)
    assert pending.filter(kind="acknowledge", route_level=1).count() == total
    # One breach and one escalation per concern, to the ward's trust: none lost, none repeated.
    for kind in ("clock_breached", "escalate"):
        per_concern = Event.objects.filter(kind=kind).values("concern_id").annotate(n=Count("pk"))
        assert per_concern.count() == total, kind
        assert not per_concern.filter(n__gt=1), kind
    assert not Event.objects.filter(kind="escalate").exclude(data__level=1, data__to="RNX").exists()
    concerns = Concern.objects.values_list("state", "route_level", "holder__code", "audit_seq").distinct()
    assert list(concerns) == [("escalated", 1, "RNX", 3)]  # raised, clock_breached, escalate
    broken = [link for link in audit_verify() if isinstance(link, BrokenLink)]
    assert broken == [], broken[:10]
    # The notices were written with the escalations: every concern has the same ones, none missing.
    assert Alert.objects.filter(rule="unacknowledged").values("concern_id").distinct().count() == total
    assert Alert.objects.count() == total
    notices: dict[str, int] = {}
    for key in Delivery.objects.filter(idempotency_key__startswith="escalated:").values_list(
        "idempotency_key", flat=True
    ):
        concern_id = key.split(":")[1]
        notices[concern_id] = notices.get(concern_id, 0) + 1
    assert len(notices) == total
    assert len(set(notices.values())) == 1
