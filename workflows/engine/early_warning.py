"""Early warning over weekly concern counts: when a unit's concerns on a theme rise, fall or stop.

Pure and vectorised: every function takes 2-D arrays (series x weeks, oldest week first) for thousands
of unit-theme series at once and returns frozen results. It decides; it never stores. Django, Celery and
the project stay out (import-linter); the statistics are numpy's and scipy's.

How it decides (README "Early warning: how it decides" says the same for a reader):

- Detectors. Three per series, each a log-likelihood-ratio test of the series' baseline rate ``b``
  against one alternative, over weekly Poisson counts ``x``:
  RISE, an upper Poisson CUSUM for a doubling (``S = max(0, S + x ln 2 - b)``);
  FALL, a lower Poisson CUSUM for a fall to half (``S = max(0, S + b/2 - x ln 2)``);
  QUIET, a run of zero weeks whose chance under the baseline is too small. A lower CUSUM designed for
  "to nothing" has no finite reference value (its log-likelihood ratio for a zero week is finite but for
  any concern at all is minus infinity), so "gone quiet" is its own rule: the run of r empty weeks alarms
  once ``r`` reaches the shortest run whose in-control average run length meets the design (closed form
  for a run of r successes of chance ``p = exp(-b)``: ``ARL = (1 - p^r) / ((1 - p) p^r)``).
  A statistic restarts from zero the week after it alarms (the textbook CUSUM, so that the in-control
  average run length is the false-alarm design); the Signal code keeps one open signal per series.
- False-alarm design. At most one false alarm per series per five years (260 weeks) with all three
  detectors together, the issue's goal: the budget is split evenly between the three, with a quarter
  kept back for the error of baselines estimated from a year of history (a simulation at a known rate
  does not see it; the benchmark does), so each detector is designed for an in-control average run
  length (ARL0) of 4 x 260 = 1,040 weeks.
- Thresholds. The decision interval ``h`` of each CUSUM is chosen by simulation for that ARL0
  (numpy's Generator, a fixed seed per band), per baseline band: bands are log-spaced, six to a decade
  from 0.05 to 50 concerns a week (neighbouring centres 1.47x apart), and a series uses its nearest band
  centre. Computed once per process (``threshold_table``, about five seconds), deterministic.
- Baselines. Each series' own history: the 52 weeks that end 8 weeks before the week judged. A year, so
  seasons (winter pressure, holidays) average out and each estimate rests on enough weeks; the 8-week
  guard band so that a change does not hide itself by entering its own baseline before the detectors
  have had time to see it (the goals ask for detection within 4 and 8 weeks).
- Pooled prior. Each estimate is shrunk towards its peers' rate (gamma-Poisson, empirical Bayes): peers
  are series given the same ``peer_group`` (say the same theme in units of the same kind). The prior
  Gamma(shape, rate) is fitted per group and week by the method of moments (Clayton and Kaldor 1987): the
  mean is the group's pooled rate ``m = sum(y) / sum(n)``; the between-series variance of true rates is
  the variance of the observed rates less their Poisson part, ``v = var(y_i/n_i) - m mean(1/n_i)``,
  floored at ``(0.25 m)^2`` (we never assume peers identical); shape ``m^2/v``, rate ``m/v``. A series with
  ``y`` concerns in ``n`` weeks gets ``(shape + y) / (rate + n)``: its own rate when its history is long,
  the peers' when it has none.
- Start-up. A series is watched once it has 13 weeks (a quarter) of its own history in the window:
  before that its baseline is mostly its peers' and a wrong prior would alarm; the detectors hold at zero.
- Discovery control. Thousands of series each meeting a per-series design still give many false alarms
  in all (50,000 series at one per five years is about 190 a week), so a crossing is opened as a signal
  only if it is also a discovery of Benjamini-Hochberg at false discovery rate ``q = 0.05`` among all
  the detectors of its family (the caller's choice; the organisation whose board reads the signals).
  Each detector's p-value this week is ``1 / ARL0(s)``, the in-control false-alarm rate of a chart whose
  threshold were its current statistic ``s`` (Benjamini and Kling 1999); beyond what the simulation
  resolves it follows Wald's bound, ``ARL0`` growing as ``e^s`` in log-likelihood units. Why BH: it
  controls the expected share of false signals among those opened (what a board cares about), not the
  chance of any false alarm at all (family-wise control, which would make every detector slow); it holds
  for independent and positively dependent tests (a unit's themes rise together, if anything).
  Benjamini-Yekutieli holds for any dependence but costs a factor ``ln m`` (about 8 for 3,000 tests),
  too slow for an early warning. scipy.stats.false_discovery_control computes both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray
from scipy import sparse, stats

Counts = NDArray[np.int64]
Floats = NDArray[np.float64]
Flags = NDArray[np.bool_]
Indexes = NDArray[np.int64]
Scalar = TypeVar("Scalar", bound=np.generic)


class Direction(StrEnum):
    RISE = "rise"
    FALL = "fall"
    QUIET = "quiet"


DIRECTION_LABELS: dict[Direction, str] = {
    Direction.RISE: "Concerns have risen (about double the usual rate)",
    Direction.FALL: "Concerns have fallen (about half the usual rate)",
    Direction.QUIET: "Gone quiet (no concerns for longer than usual)",
}

LN2 = math.log(2.0)
RISE_RATIO = 2.0  # the upper CUSUM is designed for a doubling of the baseline rate
FALL_RATIO = 0.5  # the lower CUSUM for a fall to half
FALSE_ALARM_WEEKS = 260  # at most one false alarm per series per five years, all detectors together
# The budget split evenly between rise, fall and quiet, with a quarter kept back for the error of a
# baseline estimated from a year of history (which the simulation, at a known rate, does not see).
DETECTOR_ARL0_WEEKS = 4 * FALSE_ALARM_WEEKS
BASELINE_WEEKS = 52
GUARD_WEEKS = 8
STARTUP_WEEKS = 13
DISPERSION_FLOOR = 0.25  # peers' true rates are assumed to differ by at least this coefficient of variation
DISCOVERY_LEVEL = 0.05  # Benjamini-Hochberg's q
BAND_LOWEST = 0.05
BANDS_PER_DECADE = 6
BANDS = 19  # 0.05 to 50 concerns a week
# The simulation that designs the thresholds: enough series that ARL0 is within about 3%, long enough
# that few run past the end (those are counted at the end, which can only raise h: the safe side).
DESIGN_SERIES = 1000
DESIGN_WEEKS_PER_ARL0 = 4
DESIGN_GRID_STEP = 0.05  # h is chosen to this step
DESIGN_GRID_TOP = 12.0
P_VALUE_GRID_STEP = 0.25  # ln ARL0 is kept to this step for the p-values
DESIGN_SEED = 20_110  # fixed: the same table in every process


@dataclass(frozen=True)
class ThresholdTable:
    """Per baseline band: the decision intervals and the in-control run lengths behind the p-values.

    ``log_arl_*[band][i]`` is ln ARL0 of a chart whose threshold were ``i * grid_step``; simulated where
    the simulation resolves it, Wald's ``e^s`` growth beyond.
    """

    band_rates: tuple[float, ...]
    h_rise: tuple[float, ...]
    h_fall: tuple[float, ...]
    grid_step: float
    log_arl_rise: tuple[tuple[float, ...], ...]
    log_arl_fall: tuple[tuple[float, ...], ...]
    target_arl0: int


@dataclass(frozen=True)
class ScanState:
    """Where each series' detectors stand after a week: the start of the next incremental scan."""

    rise: Floats  # upper CUSUM
    fall: Floats  # lower CUSUM
    zero_run: Indexes  # empty weeks in a row


@dataclass(frozen=True)
class Scan:
    """The detectors over the weeks scanned (series x weeks scanned); arrays are read-only."""

    baseline: Floats  # concerns a week expected, from the series' own history and its peers'
    watched: Flags  # past start-up: the detectors may alarm
    rise: Floats
    fall: Floats
    zero_run: Indexes
    h_rise: Floats  # decision intervals for this week's baseline band
    h_fall: Floats
    quiet_weeks: Indexes  # the run of empty weeks that alarms at this baseline
    alarm_rise: Flags
    alarm_fall: Flags
    alarm_quiet: Flags
    p_rise: Floats  # 1 / ARL0 of the statistic: the p-value each week for discovery control
    p_fall: Floats
    p_quiet: Floats
    state: ScanState  # after the last week scanned


@dataclass(frozen=True)
class WeekSignals:
    """The last week scanned: which series open a signal, per direction (series,)."""

    rise: Flags
    fall: Flags
    quiet: Flags
    p_rise: Floats
    p_fall: Floats
    p_quiet: Floats


def _frozen(array: NDArray[Scalar]) -> NDArray[Scalar]:
    array.flags.writeable = False
    return array


def band_of(*, rate: Floats) -> Indexes:
    """The nearest log-spaced band for each baseline rate (rates below and above the range clip)."""
    position = (np.log10(np.maximum(rate, 1e-12)) - math.log10(BAND_LOWEST)) * BANDS_PER_DECADE
    return np.clip(np.rint(position), 0, BANDS - 1).astype(np.int64)


def band_rates() -> Floats:
    return BAND_LOWEST * 10.0 ** (np.arange(BANDS) / BANDS_PER_DECADE)


def _log_arl_by_threshold(*, statistic_max: NDArray[np.float32], grid: Floats) -> Floats:
    """ln ARL0 for each threshold on the grid, from the simulated series' running maxima (weeks x series).

    The running maximum never falls, so a series' run length for threshold g is one plus the weeks its
    maximum stayed below g (capped at the weeks simulated): the mean over series is one histogram.
    """
    series = statistic_max.shape[1]
    step = float(grid[1] - grid[0])
    bins = np.minimum(np.floor(statistic_max.ravel() / step), grid.size).astype(np.int64)
    below = np.concatenate([[0], np.cumsum(np.bincount(bins, minlength=grid.size + 1))[: grid.size - 1]])
    arl = 1.0 + below / series
    log_arl = np.log(arl)
    # Where a fifth of the runs reach the end the mean is no longer resolved: Wald's growth from there.
    unfinished = (statistic_max[-1][None, :] < grid[:, None]).mean(axis=1)
    last = int(np.flatnonzero(unfinished < 0.2)[-1])
    beyond = np.arange(grid.size) > last
    log_arl[beyond] = log_arl[last] + (grid[beyond] - grid[last])
    return np.maximum.accumulate(log_arl)


def threshold_table_compute(
    *, target_arl0: int = DETECTOR_ARL0_WEEKS, series: int = DESIGN_SERIES, seed: int = DESIGN_SEED
) -> ThresholdTable:
    """Simulate in-control Poisson series at each band's rate; choose h for the target ARL0."""
    weeks = DESIGN_WEEKS_PER_ARL0 * target_arl0
    grid = np.arange(0.0, DESIGN_GRID_TOP + DESIGN_GRID_STEP / 2, DESIGN_GRID_STEP)
    coarse = slice(None, None, round(P_VALUE_GRID_STEP / DESIGN_GRID_STEP))
    rates = band_rates()
    h_rise: list[float] = []
    h_fall: list[float] = []
    log_rise: list[tuple[float, ...]] = []
    log_fall: list[tuple[float, ...]] = []
    for band, rate in enumerate(rates):
        rng = np.random.default_rng([seed, band])
        counts = rng.poisson(rate, size=(weeks, series)).astype(np.float32)
        up = counts * np.float32(LN2) - np.float32(rate * (RISE_RATIO - 1.0))
        down = np.float32(rate * (1.0 - FALL_RATIO)) - counts * np.float32(LN2)
        for increments, hs, logs in ((up, h_rise, log_rise), (down, h_fall, log_fall)):
            # Each row becomes the running maximum of the (unrestarted) CUSUM up to that week.
            statistic = np.zeros(series, dtype=np.float32)
            highest = np.zeros(series, dtype=np.float32)
            for week in range(weeks):
                np.add(statistic, increments[week], out=statistic)
                np.maximum(statistic, 0.0, out=statistic)
                np.maximum(highest, statistic, out=highest)
                increments[week] = highest
            log_arl = _log_arl_by_threshold(statistic_max=increments, grid=grid)
            # The smallest threshold whose ARL0 meets the target (ARL0 is a step function of h for
            # counts, so the first grid point past the step is on the safe side).
            index = int(np.argmax(log_arl >= math.log(target_arl0)))
            hs.append(round(float(grid[index]), 4))
            logs.append(tuple(round(float(v), 5) for v in log_arl[coarse]))
    return ThresholdTable(
        band_rates=tuple(float(r) for r in rates),
        h_rise=tuple(h_rise),
        h_fall=tuple(h_fall),
        grid_step=P_VALUE_GRID_STEP,
        log_arl_rise=tuple(log_rise),
        log_arl_fall=tuple(log_fall),
        target_arl0=target_arl0,
    )


@cache
def threshold_table() -> ThresholdTable:
    """The design table, computed once per process (same seeds, same table)."""
    return threshold_table_compute()


def _p_value(*, statistic: Floats, band: Indexes, log_arl: Floats, grid_step: float) -> Floats:
    """1 / ARL0(statistic), interpolated on the band's grid, Wald's growth past its top."""
    position = statistic / grid_step
    top = log_arl.shape[1] - 1
    low = np.clip(np.floor(position).astype(np.int64), 0, top - 1)
    fraction = np.clip(position - low, 0.0, None)
    below = log_arl[band, low]
    above = log_arl[band, low + 1]
    inside = below + (above - below) * np.minimum(fraction, 1.0)
    beyond = log_arl[band, top] + (statistic - top * grid_step)
    log_arl_here = np.where(position > top, beyond, inside)
    return np.minimum(1.0, np.exp(-log_arl_here))


def quiet_run_arl0(*, rate: Floats, run: Indexes | Floats) -> Floats:
    """In-control ARL of "run empty weeks in a row" at a Poisson rate: (1 - p^r) / ((1 - p) p^r)."""
    p_empty = np.exp(-rate)
    with np.errstate(over="ignore", divide="ignore"):
        return (1.0 - p_empty**run) / ((1.0 - p_empty) * p_empty**run)


def quiet_weeks_needed(*, rate: Floats, target_arl0: int = DETECTOR_ARL0_WEEKS) -> Indexes:
    """The shortest run of empty weeks whose in-control ARL meets the target, per baseline rate."""
    p_empty = np.exp(-rate)
    # ARL >= T  <=>  p^r <= 1 / (1 + T (1 - p))
    needed = np.log1p(target_arl0 * (1.0 - p_empty)) / rate
    return np.maximum(np.ceil(needed - 1e-9), 1).astype(np.int64)


@dataclass(frozen=True)
class GammaPrior:
    """A group's pooled prior for a weekly rate: Gamma(shape, rate), mean shape/rate."""

    shape: Floats
    rate: Floats


def prior_fit(*, concerns: Floats, weeks: Floats, peer_group: Indexes) -> GammaPrior:
    """Fit each peer group's gamma prior by the method of moments, per column (week).

    ``concerns`` and ``weeks`` are (series x columns): each series' concerns in its window and the
    weeks of history that window holds. Series with no history carry no weight.
    """
    groups = int(peer_group.max()) + 1 if peer_group.size else 0
    member = sparse.csr_matrix(
        (np.ones(peer_group.size), (peer_group, np.arange(peer_group.size))), shape=(groups, peer_group.size)
    )
    has = weeks > 0
    safe_weeks = np.where(has, weeks, 1.0)
    observed = np.where(has, concerns / safe_weeks, 0.0)
    n_series = member @ has.astype(np.float64)
    total_concerns = member @ np.where(has, concerns, 0.0)
    total_weeks = member @ np.where(has, weeks, 0.0)
    mean = np.where(total_weeks > 0, total_concerns / np.maximum(total_weeks, 1.0), BAND_LOWEST)
    mean = np.maximum(mean, BAND_LOWEST)
    series_mean = mean[peer_group]
    spread = member @ np.where(has, (observed - series_mean) ** 2, 0.0)
    inverse_weeks = member @ np.where(has, 1.0 / safe_weeks, 0.0)
    count = np.maximum(n_series, 1.0)
    variance = spread / count - mean * inverse_weeks / count
    variance = np.maximum(variance, (DISPERSION_FLOOR * mean) ** 2)
    return GammaPrior(shape=mean**2 / variance, rate=mean / variance)


def baselines(*, counts: Counts, first_week: Indexes, peer_group: Indexes) -> tuple[Floats, Indexes]:
    """Each series' baseline rate for every week, and the weeks of own history it rests on.

    Week t's baseline rests on weeks [t - GUARD - BASELINE, t - GUARD) that the series existed in
    (``first_week`` onwards), shrunk towards its peer group's gamma prior fitted on the same weeks.
    """
    series, weeks = counts.shape
    cumulative = np.zeros((series, weeks + 1))
    np.cumsum(counts, axis=1, out=cumulative[:, 1:])
    week = np.arange(weeks)
    end = np.clip(week - GUARD_WEEKS, 0, None)
    start = np.clip(week - GUARD_WEEKS - BASELINE_WEEKS, 0, None)
    start = np.maximum(start[None, :], first_week[:, None])
    start = np.minimum(start, end[None, :])
    rows = np.arange(series)[:, None]
    concerns = cumulative[rows, end[None, :]] - cumulative[rows, start]
    history = (end[None, :] - start).astype(np.int64)
    prior = prior_fit(concerns=concerns, weeks=history.astype(np.float64), peer_group=peer_group)
    rate = (prior.shape[peer_group] + concerns) / (prior.rate[peer_group] + history)
    return np.maximum(rate, BAND_LOWEST), history


def state_initial(*, series: int) -> ScanState:
    return ScanState(rise=np.zeros(series), fall=np.zeros(series), zero_run=np.zeros(series, dtype=np.int64))


def series_scan(
    *,
    counts: Counts,
    first_week: Indexes | None = None,
    peer_group: Indexes | None = None,
    from_week: int = 0,
    state: ScanState | None = None,
    table: ThresholdTable | None = None,
) -> Scan:
    """Run the three detectors over weeks ``from_week`` onwards of ``counts`` (series x weeks).

    Weeks before ``from_week`` are history only (baselines). A full pass scans every week from a zero
    state; the nightly pass gives the last GUARD + BASELINE weeks as history, the new week to scan and
    the previous scan's ``state``. ``first_week`` is each series' first week in ``counts`` (0 if it
    existed throughout); ``peer_group`` numbers its peers (all one group if not given).
    """
    counts = np.asarray(counts, dtype=np.int64)
    series = counts.shape[0]
    first_week = np.zeros(series, dtype=np.int64) if first_week is None else np.asarray(first_week, np.int64)
    peer_group = np.zeros(series, dtype=np.int64) if peer_group is None else np.asarray(peer_group, np.int64)
    design = table or threshold_table()
    state = state or state_initial(series=series)
    baseline_all, history_all = baselines(counts=counts, first_week=first_week, peer_group=peer_group)
    baseline = baseline_all[:, from_week:]
    watched = history_all[:, from_week:] >= STARTUP_WEEKS
    scanned = counts[:, from_week:].astype(np.float64)
    band = band_of(rate=baseline)
    h_rise = np.asarray(design.h_rise)[band]
    h_fall = np.asarray(design.h_fall)[band]
    quiet_weeks = quiet_weeks_needed(rate=baseline, target_arl0=design.target_arl0)
    up = scanned * LN2 - baseline * (RISE_RATIO - 1.0)
    down = baseline * (1.0 - FALL_RATIO) - scanned * LN2
    empty = scanned == 0
    shape = scanned.shape
    rise, fall = np.empty(shape), np.empty(shape)
    zero_run = np.empty(shape, dtype=np.int64)
    alarm_rise, alarm_fall, alarm_quiet = (np.empty(shape, dtype=bool) for _ in range(3))
    s_up, s_down, run = state.rise.copy(), state.fall.copy(), state.zero_run.copy()
    for week in range(shape[1]):
        on = watched[:, week]
        s_up = np.where(on, np.maximum(s_up + up[:, week], 0.0), 0.0)
        s_down = np.where(on, np.maximum(s_down + down[:, week], 0.0), 0.0)
        run = np.where(empty[:, week], run + 1, 0)
        rise[:, week], fall[:, week], zero_run[:, week] = s_up, s_down, run
        alarm_rise[:, week] = fired_up = on & (s_up >= h_rise[:, week])
        alarm_fall[:, week] = fired_down = on & (s_down >= h_fall[:, week])
        alarm_quiet[:, week] = fired_quiet = on & (run >= quiet_weeks[:, week])
        # The textbook CUSUM restarts after it alarms: its ARL0 is then the false-alarm design.
        s_up = np.where(fired_up, 0.0, s_up)
        s_down = np.where(fired_down, 0.0, s_down)
        run = np.where(fired_quiet, 0, run)
    log_rise = np.asarray(design.log_arl_rise)
    log_fall = np.asarray(design.log_arl_fall)
    p_rise = _p_value(statistic=rise, band=band, log_arl=log_rise, grid_step=design.grid_step)
    p_fall = _p_value(statistic=fall, band=band, log_arl=log_fall, grid_step=design.grid_step)
    with np.errstate(divide="ignore"):
        p_quiet = np.where(zero_run > 0, np.minimum(1.0, 1.0 / quiet_run_arl0(rate=baseline, run=zero_run)), 1.0)
    not_watched = ~watched
    for p in (p_rise, p_fall, p_quiet):
        p[not_watched] = 1.0
    return Scan(
        baseline=_frozen(baseline),
        watched=_frozen(watched),
        rise=_frozen(rise),
        fall=_frozen(fall),
        zero_run=_frozen(zero_run),
        h_rise=_frozen(h_rise),
        h_fall=_frozen(h_fall),
        quiet_weeks=_frozen(quiet_weeks),
        alarm_rise=_frozen(alarm_rise),
        alarm_fall=_frozen(alarm_fall),
        alarm_quiet=_frozen(alarm_quiet),
        p_rise=_frozen(p_rise),
        p_fall=_frozen(p_fall),
        p_quiet=_frozen(p_quiet),
        state=ScanState(rise=_frozen(s_up), fall=_frozen(s_down), zero_run=_frozen(run)),
    )


def discoveries(*, p_values: Floats, family: Indexes | None = None, level: float = DISCOVERY_LEVEL) -> Flags:
    """Benjamini-Hochberg within each family: which tests are discoveries at false discovery rate ``level``."""
    p_values = np.asarray(p_values, dtype=np.float64)
    flat = p_values.ravel()
    labels = np.zeros(flat.size, np.int64) if family is None else np.broadcast_to(family, p_values.shape).ravel()
    found = np.zeros(flat.size, dtype=bool)
    order = np.argsort(labels, kind="stable")
    bounds = np.flatnonzero(np.diff(labels[order])) + 1
    for members in np.split(order, bounds):
        if members.size:
            adjusted = stats.false_discovery_control(flat[members], method="bh")
            found[members] = adjusted <= level
    return found.reshape(p_values.shape)


def week_signals(*, scan: Scan, family: Indexes | None = None, level: float = DISCOVERY_LEVEL) -> WeekSignals:
    """The last week scanned: a series opens a signal in a direction when that detector alarms and its
    p-value is a discovery among all the detectors (series x directions) of its family.
    """
    p = np.stack([scan.p_rise[:, -1], scan.p_fall[:, -1], scan.p_quiet[:, -1]], axis=1)
    labels = None if family is None else np.repeat(np.asarray(family, np.int64)[:, None], 3, axis=1)
    found = discoveries(p_values=p, family=labels, level=level)
    return WeekSignals(
        rise=_frozen(found[:, 0] & scan.alarm_rise[:, -1]),
        fall=_frozen(found[:, 1] & scan.alarm_fall[:, -1]),
        quiet=_frozen(found[:, 2] & scan.alarm_quiet[:, -1]),
        p_rise=_frozen(p[:, 0].copy()),
        p_fall=_frozen(p[:, 1].copy()),
        p_quiet=_frozen(p[:, 2].copy()),
    )
