"""Two beat processes at once, each sending the clock sweep every second to two workers: every
escalation happens once, and every notice it causes is written once and sent once.

A few hundred concerns fall due, half before the processes start and the rest one after another over
the following seconds, so the sweeps the two beats send keep meeting the same newly due clocks. The processes use a
Redis database of this test's own, flushed at the end.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.db.models import Count
from django.utils import timezone

from backend.concerns.audit import BrokenLink, audit_verify
from backend.concerns.models import Clock, ClockStatus, Concern, Event
from backend.organisations.models import Organisation
from backend.oversight.models import Alert
from notifications.models import Delivery
from tests.support.faults import redis_broker_url, redis_flush, worker_ready
from tests.support.processes import Proc, beat_cmd, process_env, running, wait_for, worker_cmd
from tests.support.seeding import concerns_seed

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True), pytest.mark.timeout(240)]

CONCERNS = 400
# Half are due at the start; the others fall due one by one over this many seconds once the workers run.
SPREAD_SECONDS = 8
BROKER_DB = 12


def _sweeps_sent(beat: Proc) -> int:
    return beat.output().count("Sending due task clocks-sweep")


def test_two_beats_escalate_each_concern_once(demo: None, tmp_path: Path) -> None:
    ward = Organisation.objects.get(code="RNX07")
    ids = concerns_seed(unit=ward, count=CONCERNS)
    broker = redis_broker_url(db=BROKER_DB)
    redis_flush(broker)  # nothing left from an interrupted run
    env = process_env(
        CELERY_BROKER_URL=broker,
        CANDOUR_SWEEP_SECONDS="1",
        DJANGO_EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
    )
    procs = [
        Proc("worker 1", worker_cmd(name="w1"), env, tmp_path / "worker-1.log"),
        Proc("worker 2", worker_cmd(name="w2"), env, tmp_path / "worker-2.log"),
        Proc("beat 1", beat_cmd(tmp_path / "beat-1-schedule"), env, tmp_path / "beat-1.log"),
        Proc("beat 2", beat_cmd(tmp_path / "beat-2-schedule"), env, tmp_path / "beat-2.log"),
    ]
    workers, beats = procs[:2], procs[2:]
    half = CONCERNS // 2
    acknowledge = Clock.objects.filter(kind="acknowledge", status=ClockStatus.PENDING)
    acknowledge.filter(concern_id__in=ids[:half]).update(due_at=timezone.now() - timedelta(minutes=1))

    def logs() -> str:
        return "\n".join(f"== {p.name}\n{p.output()[-2500:]}" for p in procs)

    try:
        with running(procs):
            escalated = Event.objects.filter(kind="escalate")
            try:
                for worker in workers:
                    worker_ready(worker)
                # The other half fall due one after another from now on, while the beats tick.
                start, step = timezone.now(), timedelta(seconds=SPREAD_SECONDS) / (CONCERNS - half)
                later = list(acknowledge.filter(concern_id__in=ids[half:]).order_by("concern_id"))
                for i, clock in enumerate(later):
                    clock.due_at = start + i * step
                Clock.objects.bulk_update(later, ["due_at"])
                wait_for(lambda: escalated.count() >= CONCERNS, timeout=120, what="every concern to escalate")
                # Both beats go on sending sweeps that find nothing left to do.
                sent = [_sweeps_sent(b) for b in beats]
                wait_for(
                    lambda: all(_sweeps_sent(b) >= n + 3 for b, n in zip(beats, sent, strict=True)),
                    timeout=30,
                    what="three more sweeps from each beat",
                )
                outgoing = Delivery.objects.exclude(status__in=["sent", "delivered"])
                wait_for(lambda: not outgoing.exists(), timeout=90, what="every notice to go out")
            except AssertionError as exc:
                raise AssertionError(f"{exc}\n{logs()}") from None
    finally:
        redis_flush(broker)

    # Both beats sent sweeps all along, and the workers ran many (some expire queued behind notices).
    assert all(_sweeps_sent(b) >= SPREAD_SECONDS for b in beats), logs()
    swept = sum(len(re.findall(r"clocks_sweep\[[^]]+\] succeeded", w.output())) for w in workers)
    assert swept >= 4, logs()

    # Each clock fired once, each concern escalated once, one step, with an intact chain.
    assert Clock.objects.filter(kind="acknowledge", route_level=0, status=ClockStatus.FIRED).count() == CONCERNS
    assert not Clock.objects.values("concern_id", "kind", "route_level").annotate(n=Count("pk")).filter(n__gt=1)
    for kind in ("clock_breached", "escalate"):
        per_concern = Event.objects.filter(kind=kind).values("concern_id").annotate(n=Count("pk"))
        assert per_concern.count() == CONCERNS, kind
        assert not per_concern.filter(n__gt=1), kind
    concerns = Concern.objects.values_list("state", "route_level", "holder__code", "audit_seq").distinct()
    assert list(concerns) == [("escalated", 1, "RNX", 3)]
    assert not [link for link in audit_verify() if isinstance(link, BrokenLink)]

    # The notices: the trust's guardian is told of each escalation and the board's governor of each
    # "unacknowledged" alert, in the app and by e-mail; each written once and sent once.
    users = get_user_model().objects
    guardian, governor = users.get(username="guardian"), users.get(username="governor")
    alerts = dict(Alert.objects.filter(rule="unacknowledged").values_list("concern_id", "pk"))
    assert Alert.objects.count() == len(alerts) == CONCERNS
    expected = {
        f"escalated:{concern_id}:1:to:{guardian.pk}:{channel}" for concern_id in ids for channel in ("in_app", "email")
    } | {f"alert:{alerts[concern_id]}:{governor.pk}:{channel}" for concern_id in ids for channel in ("in_app", "email")}
    assert set(Delivery.objects.values_list("idempotency_key", flat=True)) == expected
    assert Delivery.objects.count() == len(expected)
    assert set(Delivery.objects.values_list("attempts", flat=True)) == {1}
