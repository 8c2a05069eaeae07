"""Statistical process control as NHS boards read it: "Making Data Count" XmR charts, rules and icons.

NHS England's Making Data Count programme teaches boards the XmR (individuals and moving range) chart:
the mean of the points, the moving ranges between neighbours, and process limits at the mean plus and
minus 2.66 times the average moving range. A point is special cause variation when any of four rules
holds (Making Data Count, "Making data count: strengthening your decisions", and the NHS-R community's
NHSRplotthedots package, which implements them for the programme: R/ptd_spc_standard.R,
R/ptd_calculate_point_type.R and its tests, R/ptd_calculate_assurance_type.R, R/geom_ptd_icon.R):

- BEYOND_LIMITS: a point above the upper or below the lower process limit;
- SHIFT: a run of seven or more points all above, or all below, the mean (a point on the mean breaks
  the run); every point of the run is flagged;
- TREND: seven or more points in a row each higher, or each lower, than the one before (an equal
  neighbour breaks it); every point of the run is flagged;
- TWO_OF_THREE: two out of three consecutive points close to a process limit, within its outer third
  (beyond two thirds of the way from the mean to the limit but not beyond it), all three on the same
  side of the mean; the close points are flagged.

The variation icon reads the last point: common cause, or special cause of an improving or concerning
nature, high or low, given which direction is better (neutral when neither is). The assurance icon, when
a target is given and a direction is better: a target beyond the upper limit or below the lower one is
met or missed by every point the process will give (consistently passing or consistently failing);
between the limits it is hit and miss.

Limits may be fixed on the first ``baseline_points`` (Making Data Count's advice once a process is
understood, and how the benchmark judges new weeks against an in-control year). The rules are
vectorised (series x points) for the benchmark; ``xmr_chart`` builds one chart for a page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

Floats = NDArray[np.float64]
Flags = NDArray[np.bool_]

LIMIT_FACTOR = 2.66  # 3 / d2 for a moving range of two points (d2 = 1.128)
CLOSE_FRACTION = 2.0 / 3.0  # "close to a limit": the outer third between the mean and the limit
RUN_POINTS = 7  # a shift or a trend


class Improvement(StrEnum):
    INCREASE = "increase"  # higher is better
    DECREASE = "decrease"  # lower is better
    NEUTRAL = "neutral"  # neither (a count of concerns: more may mean more people speak up)


class Rule(StrEnum):
    BEYOND_LIMITS = "beyond_limits"
    SHIFT = "shift"
    TREND = "trend"
    TWO_OF_THREE = "two_of_three"


RULE_LABELS: dict[Rule, str] = {
    Rule.BEYOND_LIMITS: "A point beyond a process limit",
    Rule.SHIFT: "A shift: seven or more points in a row on one side of the mean",
    Rule.TREND: "A trend: seven or more points in a row all rising or all falling",
    Rule.TWO_OF_THREE: "Two out of three points close to a process limit",
}


class Variation(StrEnum):
    COMMON_CAUSE = "common_cause"
    IMPROVEMENT_HIGH = "improvement_high"
    IMPROVEMENT_LOW = "improvement_low"
    CONCERN_HIGH = "concern_high"
    CONCERN_LOW = "concern_low"
    NEUTRAL_HIGH = "neutral_high"
    NEUTRAL_LOW = "neutral_low"


VARIATION_LABELS: dict[Variation, str] = {
    Variation.COMMON_CAUSE: "Common cause variation: no significant change",
    Variation.IMPROVEMENT_HIGH: "Special cause variation of an improving nature: higher values",
    Variation.IMPROVEMENT_LOW: "Special cause variation of an improving nature: lower values",
    Variation.CONCERN_HIGH: "Special cause variation of a concerning nature: higher values",
    Variation.CONCERN_LOW: "Special cause variation of a concerning nature: lower values",
    Variation.NEUTRAL_HIGH: "Special cause variation: higher values",
    Variation.NEUTRAL_LOW: "Special cause variation: lower values",
}


class Assurance(StrEnum):
    CONSISTENTLY_PASSING = "consistently_passing"
    CONSISTENTLY_FAILING = "consistently_failing"
    HIT_AND_MISS = "hit_and_miss"


ASSURANCE_LABELS: dict[Assurance, str] = {
    Assurance.CONSISTENTLY_PASSING: "The process will consistently pass the target",
    Assurance.CONSISTENTLY_FAILING: "The process will consistently fail the target",
    Assurance.HIT_AND_MISS: "The process will hit and miss the target at random",
}


@dataclass(frozen=True)
class XmRRules:
    """Per point (series x points): which rules hold, and the side of the mean (-1, 0, +1)."""

    beyond_limits: Flags
    shift: Flags
    trend: Flags
    two_of_three: Flags
    side: NDArray[np.int64]

    @property
    def special_cause(self) -> Flags:
        return self.beyond_limits | self.shift | self.trend | self.two_of_three


@dataclass(frozen=True)
class XmRPoint:
    value: float
    moving_range: float | None  # none for the first point
    rules: frozenset[Rule]
    variation: Variation  # this point's kind: common cause, or special cause of which nature

    @property
    def special_cause(self) -> bool:
        return bool(self.rules)


@dataclass(frozen=True)
class XmRChart:
    mean: float
    average_moving_range: float
    upper_limit: float
    lower_limit: float
    points: tuple[XmRPoint, ...]
    variation: Variation  # the icon: the last point's kind
    assurance: Assurance | None  # the icon, when a target is given and a direction is better
    improvement: Improvement
    target: float | None
    baseline_points: int  # the points the mean and limits rest on

    @property
    def variation_label(self) -> str:
        return VARIATION_LABELS[self.variation]

    @property
    def assurance_label(self) -> str | None:
        return None if self.assurance is None else ASSURANCE_LABELS[self.assurance]


def xmr_limits(*, values: Floats) -> tuple[Floats, Floats]:
    """Mean and average moving range per series (rows) of the points given."""
    values = np.atleast_2d(np.asarray(values, dtype=np.float64))
    moving_ranges = np.abs(np.diff(values, axis=1))
    average = moving_ranges.mean(axis=1) if moving_ranges.shape[1] else np.zeros(values.shape[0])
    return values.mean(axis=1), average


def _run_lengths(flags: Flags) -> NDArray[np.int64]:
    """How many consecutive True end at each entry, along each row."""
    series, points = flags.shape
    run = np.zeros(flags.shape, dtype=np.int64)
    current = np.zeros(series, dtype=np.int64)
    for i in range(points):
        current = np.where(flags[:, i], current + 1, 0)
        run[:, i] = current
    return run


def _in_runs(flags: Flags, *, length: int) -> Flags:
    """Which entries belong to a run of at least ``length`` consecutive True along each row."""
    series, points = flags.shape
    ends = _run_lengths(flags) >= length
    # An entry is in a long run exactly when one of it and the next length-1 entries ends one.
    padded = np.concatenate([np.zeros((series, 1), np.int64), np.cumsum(ends, axis=1)], axis=1)
    ahead = np.minimum(np.arange(points) + length, points)
    return (padded[:, ahead] - padded[:, np.arange(points)]) > 0


def xmr_rules(*, values: Floats, mean: Floats, average_moving_range: Floats) -> XmRRules:
    """The four Making Data Count rules for each point of each series (series x points)."""
    values = np.atleast_2d(np.asarray(values, dtype=np.float64))
    centre = np.asarray(mean, dtype=np.float64).reshape(-1, 1)
    spread = np.asarray(average_moving_range, dtype=np.float64).reshape(-1, 1)
    upper, lower = centre + LIMIT_FACTOR * spread, centre - LIMIT_FACTOR * spread
    near_upper = centre + CLOSE_FRACTION * LIMIT_FACTOR * spread
    near_lower = centre - CLOSE_FRACTION * LIMIT_FACTOR * spread
    beyond = (values > upper) | (values < lower)
    side = np.sign(values - centre).astype(np.int64)
    shift = _in_runs(side > 0, length=RUN_POINTS) | _in_runs(side < 0, length=RUN_POINTS)
    step = np.diff(values, axis=1)
    trend = np.zeros(values.shape, dtype=bool)
    for moving in (step > 0, step < 0):
        # Seven points in a row each beyond the one before are six steps the same way; a step belongs
        # to the points either side of it.
        steps = _in_runs(moving, length=RUN_POINTS - 1)
        trend[:, 1:] |= steps
        trend[:, :-1] |= steps
    close = ~beyond & ((values > near_upper) | (values < near_lower))
    two_of_three = np.zeros(values.shape, dtype=bool)
    points = values.shape[1]
    for start in range(max(points - 2, 0)):
        window = slice(start, start + 3)
        same_side = np.abs(side[:, window].sum(axis=1)) == 3
        enough = close[:, window].sum(axis=1) >= 2
        two_of_three[:, window] |= (same_side & enough)[:, None] & close[:, window]
    return XmRRules(beyond_limits=beyond, shift=shift, trend=trend, two_of_three=two_of_three, side=side)


def xmr_rules_as_they_arrive(*, values: Floats, mean: Floats, average_moving_range: Floats) -> XmRRules:
    """The rules as a board would first see them, week by week: a point is flagged when the points up to
    it make the rule hold (the seventh point of a shift or trend, the second close point of two out of
    three), never for points that come after it. For signals and for judging how fast the rules see a
    change; ``xmr_rules`` flags every point of a pattern, for the chart.
    """
    values = np.atleast_2d(np.asarray(values, dtype=np.float64))
    centre = np.asarray(mean, dtype=np.float64).reshape(-1, 1)
    spread = np.asarray(average_moving_range, dtype=np.float64).reshape(-1, 1)
    upper, lower = centre + LIMIT_FACTOR * spread, centre - LIMIT_FACTOR * spread
    near = CLOSE_FRACTION * LIMIT_FACTOR * spread
    beyond = (values > upper) | (values < lower)
    side = np.sign(values - centre).astype(np.int64)
    shift = (_run_lengths(side > 0) >= RUN_POINTS) | (_run_lengths(side < 0) >= RUN_POINTS)
    step = np.diff(values, axis=1)
    trend = np.zeros(values.shape, dtype=bool)
    trend[:, 1:] = (_run_lengths(step > 0) >= RUN_POINTS - 1) | (_run_lengths(step < 0) >= RUN_POINTS - 1)
    close = ~beyond & (np.abs(values - centre) > near)
    two_of_three = np.zeros(values.shape, dtype=bool)
    if values.shape[1] >= 3:
        last_three_close = close[:, 2:].astype(int) + close[:, 1:-1] + close[:, :-2]
        last_three_side = side[:, 2:] + side[:, 1:-1] + side[:, :-2]
        two_of_three[:, 2:] = close[:, 2:] & (last_three_close >= 2) & (np.abs(last_three_side) == 3)
    return XmRRules(beyond_limits=beyond, shift=shift, trend=trend, two_of_three=two_of_three, side=side)


def _variation(*, special: bool, side: int, improvement: Improvement) -> Variation:
    if not special:
        return Variation.COMMON_CAUSE
    high = side > 0
    if improvement is Improvement.NEUTRAL:
        return Variation.NEUTRAL_HIGH if high else Variation.NEUTRAL_LOW
    improving = high == (improvement is Improvement.INCREASE)
    if improving:
        return Variation.IMPROVEMENT_HIGH if high else Variation.IMPROVEMENT_LOW
    return Variation.CONCERN_HIGH if high else Variation.CONCERN_LOW


def assurance_of(
    *, upper_limit: float, lower_limit: float, target: float | None, improvement: Improvement
) -> Assurance | None:
    """The assurance icon: does the process, as it is, meet the target? None without a target or a
    better direction."""
    if target is None or improvement is Improvement.NEUTRAL:
        return None
    higher_is_better = improvement is Improvement.INCREASE
    if target > upper_limit:
        return Assurance.CONSISTENTLY_FAILING if higher_is_better else Assurance.CONSISTENTLY_PASSING
    if target < lower_limit:
        return Assurance.CONSISTENTLY_PASSING if higher_is_better else Assurance.CONSISTENTLY_FAILING
    return Assurance.HIT_AND_MISS


def xmr_chart(
    *,
    values: Sequence[float],
    improvement: Improvement = Improvement.NEUTRAL,
    target: float | None = None,
    baseline_points: int | None = None,
) -> XmRChart:
    """One XmR chart with its rules, point kinds and icons; limits from the first ``baseline_points``
    (all points if not given)."""
    data = np.asarray(values, dtype=np.float64)
    if data.ndim != 1 or data.size == 0:
        raise ValueError("an XmR chart needs a non-empty sequence of values")
    resting = data.size if baseline_points is None else max(1, min(baseline_points, data.size))
    mean, amr = xmr_limits(values=data[:resting])
    rules = xmr_rules(values=data, mean=mean, average_moving_range=amr)
    centre, spread = float(mean[0]), float(amr[0])
    upper, lower = centre + LIMIT_FACTOR * spread, centre - LIMIT_FACTOR * spread
    held = {
        Rule.BEYOND_LIMITS: rules.beyond_limits[0],
        Rule.SHIFT: rules.shift[0],
        Rule.TREND: rules.trend[0],
        Rule.TWO_OF_THREE: rules.two_of_three[0],
    }
    points = []
    for i, value in enumerate(data):
        point_rules = frozenset(rule for rule, flags in held.items() if flags[i])
        side = int(rules.side[0, i])
        if side == 0 and i > 0:
            # A special point on the mean (the middle of a trend, say) takes the way it moved.
            side = int(np.sign(value - data[i - 1]))
        points.append(
            XmRPoint(
                value=float(value),
                moving_range=None if i == 0 else float(abs(value - data[i - 1])),
                rules=point_rules,
                variation=_variation(special=bool(point_rules), side=side, improvement=improvement),
            )
        )
    return XmRChart(
        mean=centre,
        average_moving_range=spread,
        upper_limit=upper,
        lower_limit=lower,
        points=tuple(points),
        variation=points[-1].variation,
        assurance=assurance_of(upper_limit=upper, lower_limit=lower, target=target, improvement=improvement),
        improvement=improvement,
        target=target,
        baseline_points=resting,
    )


# A trend's signal needs a year of months behind the points it judges: fewer, and the limits say
# more about the few points than about the process.
SHIFT_BASELINE_MIN = 12


@dataclass(frozen=True)
class ShiftOnset:
    """The last point began special cause variation of a concerning nature."""

    rule: Rule  # BEYOND_LIMITS or SHIFT
    mean: float
    upper_limit: float
    lower_limit: float
    value: float


def concerning_onset(*, values: Sequence[float], improvement: Improvement) -> ShiftOnset | None:
    """Whether the last point starts a concerning special cause, judged as a board would see it
    arrive: limits fixed on the points before the last RUN_POINTS (so a shift in progress does not
    widen its own limits), then the two rules that carry a meaning alone (a point beyond a limit, a
    run of seven on the worse side). The trend and two-of-three rules are left to the chart: with
    several trends a month for every trust they would add false alarms and little speed. An onset,
    not a state: a point beyond the limit after one that was beyond it, or the eighth point of a
    run, is the same episode and opens nothing new. None when the worse side is not defined
    (neutral) or the history is too short."""
    if improvement is Improvement.NEUTRAL:
        return None
    data = np.asarray(values, dtype=np.float64)
    resting = data.size - RUN_POINTS
    if data.ndim != 1 or resting < SHIFT_BASELINE_MIN:
        return None
    mean, amr = xmr_limits(values=data[:resting])
    rules = xmr_rules_as_they_arrive(values=data, mean=mean, average_moving_range=amr)
    worse = 1 if improvement is Improvement.DECREASE else -1
    beyond = rules.beyond_limits[0] & (rules.side[0] == worse)
    runs = _run_lengths(rules.side == worse)[0]
    centre, spread = float(mean[0]), float(amr[0])
    found = None
    if runs[-1] == RUN_POINTS:
        found = Rule.SHIFT
    elif beyond[-1] and not beyond[-2] and runs[-1] < RUN_POINTS:
        found = Rule.BEYOND_LIMITS
    if found is None:
        return None
    return ShiftOnset(
        rule=found,
        mean=centre,
        upper_limit=centre + LIMIT_FACTOR * spread,
        lower_limit=centre - LIMIT_FACTOR * spread,
        value=float(data[-1]),
    )
