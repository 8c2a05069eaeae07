"""The acknowledge clock passes; a real Celery beat and worker on Redis escalate the concern one step."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from backend.concerns.models import Clock, ClockStatus, Concern, Event
from backend.organisations.models import Organisation
from tests.support.factories import ConcernFactory
from tests.support.processes import Proc, beat_cmd, process_env, running, wait_for, worker_cmd

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def test_beat_and_worker_escalate_a_breached_concern_one_step(demo: None, tmp_path: Path) -> None:
    ward = Organisation.objects.get(code="RNX07")
    concern = ConcernFactory(unit=ward, what_happened="Nobody acknowledges this.")
    # The clock's due date is put in the past, as if seven days had gone by.
    Clock.objects.filter(concern=concern, kind="acknowledge").update(due_at=timezone.now() - timedelta(minutes=1))

    env = process_env(CANDOUR_SWEEP_SECONDS="1")
    procs = [
        Proc("worker", worker_cmd(), env, tmp_path / "worker.log"),
        Proc("beat", beat_cmd(tmp_path / "beat-schedule"), env, tmp_path / "beat.log"),
    ]
    with running(procs):

        def escalated() -> bool:
            return Event.objects.filter(concern=concern, kind="escalate").exists()

        try:
            wait_for(escalated, timeout=60, what="the sweep to escalate the concern")
        except AssertionError:
            raise AssertionError(procs[0].output()[-3000:] + procs[1].output()[-2000:]) from None

    concern.refresh_from_db()
    assert concern.state == "escalated"
    assert concern.holder.code == "RNX"  # the ward's trust: one step along the route
    assert concern.route_level == 1
    event = Event.objects.get(concern=concern, kind="escalate")
    assert event.data == {"from": "RNX07", "to": "RNX", "level": 1, "reason": "acknowledge_breached"}
    assert event.actor_role == "system"
    first = Clock.objects.get(concern=concern, route_level=0, kind="acknowledge")
    assert first.status == ClockStatus.FIRED and first.fired_at is not None
    # The receiving body's own acknowledge clock now runs.
    second = Clock.objects.get(concern=concern, route_level=1, kind="acknowledge")
    assert second.status == ClockStatus.PENDING and second.holder.code == "RNX"
    # Many beats ran while we waited; it still escalated exactly once.
    assert Event.objects.filter(concern=concern, kind="escalate").count() == 1
    assert Concern.objects.get(pk=concern.pk).audit_seq == 3  # raised, clock_breached, escalate
    assert "clocks_sweep" in procs[0].output()
