"""End to end on PostgreSQL with a real Celery worker and beat: two years of a ward's concerns, then
they double; the nightly pass opens exactly one signal and tells its watchers once; another run opens
nothing new; a ward that goes quiet opens a "gone quiet" signal."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from django.utils import timezone

from backend.organisations.models import Organisation
from backend.oversight.figures import figures_rollup, week_of
from backend.oversight.models import Signal
from backend.oversight.signals import signals_detect
from notifications.models import Delivery
from tests.support.processes import Proc, beat_cmd, process_env, running, wait_for, worker_cmd
from tests.support.seeding import concerns_seed

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

WEEKS = 104
USUAL = 3.0  # concerns a week


def _history(code: str, *, last_weeks: int, last_rate: float, seed: int) -> None:
    """Two years of weekly Poisson counts about one unit, the last weeks at another rate."""
    rng = np.random.default_rng(seed)
    unit = Organisation.objects.get(code=code)
    this_week = week_of(timezone.now())
    for back in range(WEEKS, 0, -1):
        rate = last_rate if back <= last_weeks else USUAL
        count = int(rng.poisson(rate))
        if count:
            monday = timezone.now() - timedelta(days=(timezone.now().date() - this_week).days) - timedelta(weeks=back)
            concerns_seed(unit=unit, count=count, now=monday + timedelta(days=2), themes=["patient_safety"])


def test_the_nightly_pass_on_a_worker_opens_one_signal_per_change_and_tells_once(demo: None, tmp_path: Path) -> None:
    _history("RNX07", last_weeks=6, last_rate=2.5 * USUAL, seed=1)  # the ward whose concerns doubled
    _history("RNXMAT", last_weeks=6, last_rate=0.0, seed=2)  # the one that went quiet
    _history("RCXDNE", last_weeks=0, last_rate=USUAL, seed=3)  # steady
    figures_rollup()
    env = process_env(CANDOUR_SIGNALS_SECONDS="2", CANDOUR_SWEEP_SECONDS="3600")
    procs = [
        Proc("worker", worker_cmd(), env, tmp_path / "worker.log"),
        Proc("beat", beat_cmd(tmp_path / "beat-schedule"), env, tmp_path / "beat.log"),
    ]
    with running(procs):
        try:
            wait_for(lambda: Signal.objects.count() >= 2, timeout=120, what="the nightly pass to open signals")
            # Let beat run it again a few times: nothing more opens.
            wait_for(lambda: procs[0].output().count("signals_detect") >= 6, timeout=60, what="more passes")
        except AssertionError:
            raise AssertionError(procs[0].output()[-4000:] + procs[1].output()[-1000:]) from None
    opened = {(s.unit.code, s.theme, s.kind) for s in Signal.objects.select_related("unit")}
    assert ("RNX07", "", "rise") in opened
    assert ("RNXMAT", "", "quiet") in opened
    assert not any(code == "RCXDNE" for code, _, _ in opened), "a steady ward opens nothing"
    rise = Signal.objects.get(unit__code="RNX07", theme="", kind="rise")
    assert rise.recent > rise.baseline * 1.5 and rise.state == "new"
    told = Delivery.objects.filter(idempotency_key__startswith=f"signal:{rise.pk}:", channel="in_app")
    assert told.count() == len(set(told.values_list("recipient", flat=True))) >= 2  # once each
    assert signals_detect().opened == []  # and once more, here: nothing new
