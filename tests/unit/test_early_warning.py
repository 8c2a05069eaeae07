"""The early-warning engine: CUSUMs and the quiet rule by hand, baselines and the prior by hand, the
false-alarm design and detection as properties over simulated Poisson series (fixed seeds), thresholds
cached and deterministic, discovery control by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workflows.engine import early_warning as ew

SMALL_TABLE = ew.ThresholdTable(
    band_rates=tuple(float(r) for r in ew.band_rates()),
    h_rise=(1.5,) * ew.BANDS,
    h_fall=(0.9,) * ew.BANDS,
    grid_step=1.0,
    log_tail_rise=((0.0, -1.0, -2.0),) * ew.BANDS,
    log_tail_fall=((0.0, -1.0, -2.0),) * ew.BANDS,
    target_arl0=ew.DETECTOR_ARL0_WEEKS,
)


def test_upper_and_lower_cusum_by_hand_restart_after_an_alarm() -> None:
    # Baseline 1 a week: the upper step is x ln 2 - 1, the lower 0.5 - x ln 2.
    scan = ew.detectors_run(counts=np.array([[3, 0, 4, 1, 0, 0]]), baseline=np.ones((1, 6)), table=SMALL_TABLE)
    ln2 = math.log(2)
    rise = [3 * ln2 - 1, 3 * ln2 - 2, 7 * ln2 - 3, 0.0, 0.0, 0.0]  # alarms at 7 ln 2 - 3 = 1.85, restarts
    assert scan.rise[0] == pytest.approx(rise)
    assert scan.alarm_rise[0].tolist() == [False, False, True, False, False, False]
    fall = [0.0, 0.5, 0.0, 0.0, 0.5, 1.0]  # alarms at 1.0 >= 0.9
    assert scan.fall[0] == pytest.approx(fall)
    assert scan.alarm_fall[0].tolist() == [False] * 5 + [True]
    assert scan.zero_run[0].tolist() == [0, 1, 0, 0, 1, 2]
    assert scan.state.fall[0] == 0.0  # restarted after the alarm
    assert scan.state.rise[0] == pytest.approx(0.0)


def test_quiet_rule_by_hand() -> None:
    # At 1 a week an empty week has chance e^-1; six in a row have ARL (1 - e^-6) / ((1 - e^-1) e^-6)
    # = 636.6 weeks, seven 1,733.3.
    rate = np.array([1.0])
    assert ew.quiet_run_arl0(rate=rate, run=np.array([6]))[0] == pytest.approx(636.6, abs=0.1)
    assert ew.quiet_run_arl0(rate=rate, run=np.array([7]))[0] == pytest.approx(1733.3, abs=0.1)
    assert ew.quiet_weeks_needed(rate=rate, target_arl0=1040)[0] == 7
    assert ew.quiet_weeks_needed(rate=rate, target_arl0=600)[0] == 6
    scan = ew.detectors_run(counts=np.zeros((1, 8), np.int64), baseline=np.ones((1, 8)), table=SMALL_TABLE)
    assert scan.alarm_quiet[0].tolist() == [False] * 6 + [True, False]  # restarts after the alarm


def test_unwatched_weeks_never_alarm() -> None:
    watched = np.array([[False, False, True]])
    scan = ew.detectors_run(counts=np.array([[9, 9, 0]]), baseline=np.ones((1, 3)), watched=watched, table=SMALL_TABLE)
    assert not scan.alarm_rise.any()
    assert scan.p_rise[0, :2].tolist() == [1.0, 1.0]


def test_prior_fit_by_hand() -> None:
    # Peers with 10 concerns in 10 weeks and 30 in 10: pooled rate 2, observed rates 1 and 3 (variance 1)
    # of which Poisson noise explains 2 x mean(1/10) = 0.2, so v = 0.8: Gamma(5, 2.5).
    prior = ew.prior_fit(
        concerns=np.array([[10.0], [30.0], [0.0]]), weeks=np.array([[10.0], [10.0], [0.0]]), peer_group=np.zeros(3, int)
    )
    assert prior.shape[0, 0] == pytest.approx(5.0)
    assert prior.rate[0, 0] == pytest.approx(2.5)


def test_a_new_series_borrows_its_peers_rate_and_an_old_one_keeps_its_own() -> None:
    rng = np.random.default_rng(7)
    weeks = 80
    old = rng.poisson(4.0, size=(30, weeks))
    new = np.zeros((1, weeks), np.int64)
    new[0, 70:] = rng.poisson(4.0, size=10)
    counts = np.vstack([old, new])
    first_week = np.array([0] * 30 + [70])
    rate, history = ew.baselines(counts=counts, first_week=first_week, peer_group=np.zeros(31, int))
    assert history[30, -1] == 1  # week 70: the guard hides the rest
    assert rate[30, -1] == pytest.approx(4.0, rel=0.15)
    assert history[0, -1] == ew.BASELINE_WEEKS
    own = counts[0, weeks - ew.GUARD_WEEKS - ew.BASELINE_WEEKS : weeks - ew.GUARD_WEEKS].mean()
    assert abs(rate[0, -1] - own) < abs(4.0 - own) + 0.05  # shrunk towards the peers, not past them


def test_the_guard_band_keeps_a_recent_change_out_of_its_own_baseline() -> None:
    counts = np.ones((1, 70), np.int64)
    counts[0, -ew.GUARD_WEEKS :] = 50
    rate, _ = ew.baselines(counts=counts, first_week=np.zeros(1, int), peer_group=np.zeros(1, int))
    assert rate[0, -1] == pytest.approx(1.0, rel=0.01)


def test_start_up_holds_the_detectors_for_a_quarter() -> None:
    counts = np.zeros((1, 40), np.int64)
    counts[0, :] = 5
    scan = ew.series_scan(counts=counts, first_week=np.array([10]), table=SMALL_TABLE)
    first_watched = int(np.argmax(scan.watched[0]))
    assert first_watched == 10 + ew.GUARD_WEEKS + ew.STARTUP_WEEKS


def test_thresholds_are_cached_and_deterministic() -> None:
    assert ew.threshold_table() is ew.threshold_table()
    small = {"target_arl0": 50, "series": 100}
    assert ew.threshold_table_compute(**small) == ew.threshold_table_compute(**small)
    assert ew.threshold_table_compute(**small, seed=1) != ew.threshold_table_compute(**small, seed=2)


def test_thresholds_grow_with_the_target_run_length() -> None:
    # Up to 10 a week, where a week's count is not yet so informative that h sits on a lattice step.
    short = ew.threshold_table_compute(target_arl0=130, series=200)
    long = ew.threshold_table_compute(target_arl0=1040, series=200)
    bands = [i for i, rate in enumerate(short.band_rates) if rate <= 10]
    assert all(short.h_rise[i] < long.h_rise[i] for i in bands)
    assert all(short.h_fall[i] < long.h_fall[i] for i in bands)


def test_p_values_fall_as_the_evidence_grows() -> None:
    table = ew.threshold_table()
    band = ew.band_of(rate=np.array([2.0]))
    p = ew._p_value(
        statistic=np.array([0.0, 1.0, 4.0, 30.0]),
        band=np.repeat(band, 4),
        log_tail=np.asarray(table.log_tail_rise),
        grid_step=table.grid_step,
    )
    assert p[0] == 1.0
    assert all(np.diff(p) < 0)
    assert 0 < p[3] < 1e-9  # Wald's e^-s past the simulated grid


@settings(max_examples=5, deadline=None, derandomize=True)
@given(rate=st.floats(min_value=0.2, max_value=20.0), seed=st.integers(min_value=0, max_value=2**31))
def test_p_values_of_a_stable_series_are_valid(rate: float, seed: int) -> None:
    # In-control, a week's p-value is at most alpha about alpha of the time (a fresh simulation, not the
    # design's): the condition for Benjamini-Hochberg to control false discoveries.
    rng = np.random.default_rng(seed)
    series, weeks = 2000, 156
    scan = ew.detectors_run(counts=rng.poisson(rate, size=(series, weeks)), baseline=np.full((series, weeks), rate))
    for p in (scan.p_rise[:, 52:], scan.p_fall[:, 52:], scan.p_quiet[:, 52:]):
        for alpha in (0.01, 0.001):
            expected = alpha * p.size
            assert (p <= alpha).sum() <= 1.3 * expected + 4 * math.sqrt(expected)


@settings(max_examples=8, deadline=None, derandomize=True)
@given(rate=st.floats(min_value=0.2, max_value=20.0), seed=st.integers(min_value=0, max_value=2**31))
def test_a_stable_series_alarms_no_more_often_than_the_design(rate: float, seed: int) -> None:
    # 2,000 series x 104 weeks at a known baseline: the design expects 200 alarms per detector
    # (ARL0 1,040 weeks). Allow Poisson noise (4 sd) and the band's width (a rate between band centres).
    rng = np.random.default_rng(seed)
    series, weeks = 2000, 104
    scan = ew.detectors_run(counts=rng.poisson(rate, size=(series, weeks)), baseline=np.full((series, weeks), rate))
    expected = series * weeks / ew.DETECTOR_ARL0_WEEKS
    allowed = 1.3 * expected + 4 * math.sqrt(expected)
    assert scan.alarm_rise.sum() <= allowed
    assert scan.alarm_fall.sum() <= allowed
    assert scan.alarm_quiet.sum() <= allowed


@pytest.mark.parametrize("rate", [0.5, 2.0, 10.0])
def test_with_estimated_baselines_false_alarms_stay_within_one_per_series_per_five_years(rate: float) -> None:
    rng = np.random.default_rng(int(rate * 100))
    series, history, weeks = 2000, 60, 104
    scan = ew.series_scan(counts=rng.poisson(rate, size=(series, history + weeks)), from_week=history)
    alarms = scan.alarm_rise.sum() + scan.alarm_fall.sum() + scan.alarm_quiet.sum()
    per_series_year = alarms / (series * weeks / 52)
    assert per_series_year <= 52 / ew.FALSE_ALARM_WEEKS


@settings(max_examples=10, deadline=None, derandomize=True)
@given(
    rate=st.floats(min_value=0.2, max_value=20.0),
    ratio=st.sampled_from([2.0, 0.5, 0.0]),
    seed=st.integers(min_value=0, max_value=2**31),
)
def test_a_step_change_eventually_signals(rate: float, ratio: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    weeks = 400
    counts = rng.poisson(rate * ratio, size=(20, weeks))
    scan = ew.detectors_run(counts=counts, baseline=np.full(counts.shape, rate))
    alarm = {2.0: scan.alarm_rise, 0.5: scan.alarm_fall, 0.0: scan.alarm_quiet | scan.alarm_fall}[ratio]
    assert alarm.any(axis=1).all()


def test_incremental_scan_matches_the_full_pass() -> None:
    rng = np.random.default_rng(11)
    counts = rng.poisson(rng.uniform(0.2, 8.0, size=(500, 1)), size=(500, 120))
    counts[:50, 100:] *= 3
    full = ew.series_scan(counts=counts)
    before = ew.series_scan(counts=counts[:, :-1])
    nightly = ew.series_scan(counts=counts[:, -61:], from_week=60, state=before.state)
    assert np.array_equal(nightly.alarm_rise[:, -1], full.alarm_rise[:, -1])
    assert np.allclose(nightly.state.rise, full.state.rise)
    assert np.allclose(nightly.state.fall, full.state.fall)
    assert np.array_equal(nightly.state.zero_run, full.state.zero_run)
    assert full.alarm_rise[:50, 100:].any(axis=1).mean() > 0.9


def test_benjamini_hochberg_by_hand_and_per_family() -> None:
    p = np.array([0.01, 0.04, 0.03, 0.2])
    assert ew.discoveries(p_values=p, level=0.05).tolist() == [True, False, False, False]
    # Split in two families, 0.03 and 0.04 each stand against fewer tests.
    family = np.array([0, 1, 1, 0])
    assert ew.discoveries(p_values=p, family=family, level=0.05).tolist() == [True, True, True, False]


def test_a_signal_needs_an_alarm_and_a_discovery() -> None:
    rng = np.random.default_rng(3)
    counts = rng.poisson(2.0, size=(300, 100))
    counts[0, -6:] = 12  # one unit's concerns jump six-fold in the last six weeks
    scan = ew.series_scan(counts=counts, from_week=60)
    signals = ew.week_signals(scan=scan)
    assert signals.rise[0]
    assert signals.rise.sum() <= 2
    assert not (signals.rise & ~scan.alarm_rise[:, -1]).any()
