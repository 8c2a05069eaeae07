"""Making Data Count XmR charts: limits by hand, the four rules on the published examples (the NHS-R
community's NHSRplotthedots tests, tests/testthat/test-ptd_calculate_point_type.R), the rules against a
plain reference written from their definitions, and the variation and assurance icons."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workflows.engine.spc import (
    Assurance,
    Improvement,
    Rule,
    Variation,
    assurance_of,
    concerning_onset,
    xmr_chart,
    xmr_rules,
    xmr_rules_as_they_arrive,
)


def test_mean_moving_ranges_and_limits_by_hand() -> None:
    # Mean 11.4; moving ranges 2, 1, 4, 6, average 3.25; limits 11.4 +/- 2.66 x 3.25 = 8.645.
    chart = xmr_chart(values=[10, 12, 11, 15, 9])
    assert chart.mean == pytest.approx(11.4)
    assert chart.average_moving_range == pytest.approx(3.25)
    assert chart.upper_limit == pytest.approx(20.045)
    assert chart.lower_limit == pytest.approx(2.755)
    assert [p.moving_range for p in chart.points] == [None, 2, 1, 4, 6]
    assert chart.variation is Variation.COMMON_CAUSE
    assert not any(p.special_cause for p in chart.points)


def test_a_point_beyond_a_limit_against_limits_fixed_on_a_baseline() -> None:
    chart = xmr_chart(values=[10, 12, 11, 15, 9, 25], baseline_points=5, improvement=Improvement.DECREASE)
    assert chart.upper_limit == pytest.approx(20.045)
    assert chart.points[-1].rules == frozenset({Rule.BEYOND_LIMITS})
    assert chart.variation is Variation.CONCERN_HIGH
    assert chart.baseline_points == 5


def _rules(values: list[float], *, mean: float = 0.0, amr: float = 3.0) -> dict[str, list[int]]:
    rules = xmr_rules(
        values=np.array([values], dtype=float), mean=np.array([mean]), average_moving_range=np.array([amr])
    )
    return {
        "shift": rules.shift[0].astype(int).tolist(),
        "trend": rules.trend[0].astype(int).tolist(),
        "two_of_three": rules.two_of_three[0].astype(int).tolist(),
        "beyond": rules.beyond_limits[0].astype(int).tolist(),
    }


# Published examples: sides of the mean as in ptd_seven_point_one_side_mean's tests, with every point
# of a run of seven flagged (ptd_part_of_seven_trend).
@pytest.mark.parametrize(
    ("sides", "flagged"),
    [
        ([1] * 6, [0] * 6),
        ([1] * 6 + [-1], [0] * 7),
        ([1] * 8 + [-1], [1] * 8 + [0]),
        ([-1] * 8 + [1], [1] * 8 + [0]),
        ([-1] + [1] * 8 + [-1], [0] + [1] * 8 + [0]),
        ([1] + [-1] * 8 + [1], [0] + [1] * 8 + [0]),
    ],
)
def test_shift_on_the_published_examples(sides: list[int], flagged: list[int]) -> None:
    assert _rules([float(s) for s in sides])["shift"] == flagged


# ptd_seven_point_trend's tests: 1:6, c(1:3, 3:6), 1:7, c(2, 1:7, 3), 7:1, c(2, 7:1, 3).
@pytest.mark.parametrize(
    ("values", "flagged"),
    [
        ([1, 2, 3, 4, 5, 6], [0] * 6),
        ([1, 2, 3, 3, 4, 5, 6], [0] * 7),
        ([1, 2, 3, 4, 5, 6, 7], [1] * 7),
        ([2, 1, 2, 3, 4, 5, 6, 7, 3], [0] + [1] * 7 + [0]),
        ([7, 6, 5, 4, 3, 2, 1], [1] * 7),
        ([2, 7, 6, 5, 4, 3, 2, 1, 3], [0] + [1] * 7 + [0]),
    ],
)
def test_trend_on_the_published_examples(values: list[float], flagged: list[int]) -> None:
    assert _rules(values, mean=4.0, amr=10.0)["trend"] == flagged


# ptd_two_in_three and ptd_part_of_two_in_three's tests, all points above the mean: 1 is a point close
# to the upper limit (6 against a near-limit of 5.32 and a limit of 7.98), 0 one that is not (1).
@pytest.mark.parametrize(
    ("close", "flagged"),
    [
        ([0, 0, 0], [0, 0, 0]),
        ([1, 0, 1], [1, 0, 1]),
        ([0, 1, 1], [0, 1, 1]),
        ([1, 1, 0], [1, 1, 0]),
        ([0, 0, 1, 0, 1, 0, 0], [0, 0, 1, 0, 1, 0, 0]),
        ([0, 0, 1, 1, 0, 0, 0], [0, 0, 1, 1, 0, 0, 0]),
        ([1, 0, 0, 1], [0, 0, 0, 0]),
        ([1, 0, 0, 1, 1], [0, 0, 0, 1, 1]),
    ],
)
def test_two_of_three_on_the_published_examples(close: list[int], flagged: list[int]) -> None:
    rules = _rules([6.0 if c else 1.0 for c in close])
    assert rules["two_of_three"] == flagged
    assert rules["beyond"] == [0] * len(close)


def test_two_of_three_needs_all_three_on_one_side_and_ignores_points_beyond() -> None:
    assert _rules([6.0, -1.0, 6.0])["two_of_three"] == [0, 0, 0]
    assert _rules([9.0, 1.0, 6.0])["two_of_three"] == [0, 0, 0]  # 9 is beyond the limit, not close
    assert _rules([-6.0, -1.0, -6.0])["two_of_three"] == [1, 0, 1]


def _reference(values: list[float], mean: float, amr: float) -> dict[str, list[int]]:
    """The four rules straight from their definitions, one point at a time."""
    n = len(values)
    upper, lower = mean + 2.66 * amr, mean - 2.66 * amr
    side = [(v > mean) - (v < mean) for v in values]
    beyond = [int(v > upper or v < lower) for v in values]
    shift = [0] * n
    trend = [0] * n
    for start in range(n - 6):
        window = range(start, start + 7)
        if all(side[i] == 1 for i in window) or all(side[i] == -1 for i in window):
            for i in window:
                shift[i] = 1
        steps = [values[i + 1] - values[i] for i in range(start, start + 6)]
        if all(s > 0 for s in steps) or all(s < 0 for s in steps):
            for i in window:
                trend[i] = 1
    near = 2.66 * amr * 2 / 3
    close = [int(not beyond[i] and abs(values[i] - mean) > near) for i in range(n)]
    two = [0] * n
    for start in range(n - 2):
        window = range(start, start + 3)
        if sum(close[i] for i in window) >= 2 and abs(sum(side[i] for i in window)) == 3:
            for i in window:
                two[i] |= close[i]
    return {"shift": shift, "trend": trend, "two_of_three": two, "beyond": beyond}


@settings(max_examples=300, deadline=None)
@given(values=st.lists(st.integers(min_value=0, max_value=12), min_size=1, max_size=40))
def test_rules_match_a_reference_written_from_the_definitions(values: list[int]) -> None:
    data = [float(v) for v in values]
    chart = xmr_chart(values=data)
    expected = _reference(data, chart.mean, chart.average_moving_range)
    assert _rules(data, mean=chart.mean, amr=chart.average_moving_range) == expected


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(st.integers(min_value=0, max_value=30), min_size=2, max_size=30),
    scale=st.sampled_from([0.5, 2.0, 10.0]),
    offset=st.sampled_from([-7.0, 0.0, 100.0]),
)
def test_rules_do_not_depend_on_units_or_origin(values: list[int], scale: float, offset: float) -> None:
    plain = xmr_chart(values=[float(v) for v in values])
    moved = xmr_chart(values=[v * scale + offset for v in values])
    assert [p.rules for p in plain.points] == [p.rules for p in moved.points]


@settings(max_examples=200, deadline=None)
@given(values=st.lists(st.integers(min_value=0, max_value=12), min_size=1, max_size=30))
def test_rules_as_they_arrive_are_the_rules_on_the_points_so_far(values: list[int]) -> None:
    data = np.array([values], dtype=float)
    mean, amr = np.array([np.mean(values)]), np.array([1.5])
    arriving = xmr_rules_as_they_arrive(values=data, mean=mean, average_moving_range=amr)
    for t in range(len(values)):
        so_far = xmr_rules(values=data[:, : t + 1], mean=mean, average_moving_range=amr)
        for rule in ("beyond_limits", "shift", "trend", "two_of_three"):
            assert getattr(arriving, rule)[0, t] == getattr(so_far, rule)[0, t], (rule, t)


@pytest.mark.parametrize(
    ("improvement", "last", "icon"),
    [
        (Improvement.INCREASE, 30.0, Variation.IMPROVEMENT_HIGH),
        (Improvement.INCREASE, -10.0, Variation.CONCERN_LOW),
        (Improvement.DECREASE, 30.0, Variation.CONCERN_HIGH),
        (Improvement.DECREASE, -10.0, Variation.IMPROVEMENT_LOW),
        (Improvement.NEUTRAL, 30.0, Variation.NEUTRAL_HIGH),
        (Improvement.NEUTRAL, -10.0, Variation.NEUTRAL_LOW),
        (Improvement.INCREASE, 10.0, Variation.COMMON_CAUSE),
    ],
)
def test_variation_icon_reads_the_last_point(improvement: Improvement, last: float, icon: Variation) -> None:
    chart = xmr_chart(values=[10, 11, 9, 10, 11, 9, 10, last], baseline_points=7, improvement=improvement)
    assert chart.variation is icon
    assert chart.variation_label


@pytest.mark.parametrize(
    ("improvement", "target", "icon"),
    [
        (Improvement.INCREASE, 30.0, Assurance.CONSISTENTLY_FAILING),
        (Improvement.INCREASE, 1.0, Assurance.CONSISTENTLY_PASSING),
        (Improvement.DECREASE, 30.0, Assurance.CONSISTENTLY_PASSING),
        (Improvement.DECREASE, 1.0, Assurance.CONSISTENTLY_FAILING),
        (Improvement.INCREASE, 10.0, Assurance.HIT_AND_MISS),
        (Improvement.NEUTRAL, 30.0, None),
        (Improvement.INCREASE, None, None),
    ],
)
def test_assurance_icon(improvement: Improvement, target: float | None, icon: Assurance | None) -> None:
    assert assurance_of(upper_limit=20.0, lower_limit=2.0, target=target, improvement=improvement) is icon


def test_an_empty_chart_is_refused() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        xmr_chart(values=[])


# A year of a steady share (mean 10, average moving range 2: limits 4.68 and 15.32) before the
# points judged. The limits rest on every point but the last seven.
STEADY_YEAR = [10.0, 12.0, 10.0, 8.0, 10.0, 12.0, 10.0, 8.0, 10.0, 12.0, 10.0, 8.0]


def test_a_point_beyond_the_upper_limit_is_a_concerning_onset_when_lower_is_better() -> None:
    values = [*STEADY_YEAR, 10.0, 9.0, 11.0, 10.0, 9.0, 11.0, 16.0]
    onset = concerning_onset(values=values, improvement=Improvement.DECREASE)
    assert onset is not None and onset.rule is Rule.BEYOND_LIMITS
    assert (onset.mean, onset.value) == (10.0, 16.0)
    assert onset.upper_limit == pytest.approx(10.0 + 2.66 * 2.0)
    # The same point is an improvement when higher is better, and neither way is better: no onset.
    assert concerning_onset(values=values, improvement=Improvement.INCREASE) is None
    assert concerning_onset(values=values, improvement=Improvement.NEUTRAL) is None


def test_a_second_point_beyond_the_limit_is_the_same_episode() -> None:
    values = [*STEADY_YEAR, 10.0, 9.0, 11.0, 10.0, 9.0, 16.0, 17.0]
    assert concerning_onset(values=values, improvement=Improvement.DECREASE) is None


def test_the_seventh_point_above_the_mean_is_a_shift_and_the_eighth_is_not_new() -> None:
    values = [*STEADY_YEAR, 11.0, 12.0, 11.0, 13.0, 12.0, 11.0, 12.0]
    onset = concerning_onset(values=values, improvement=Improvement.DECREASE)
    assert onset is not None and onset.rule is Rule.SHIFT
    assert concerning_onset(values=STEADY_YEAR[1:] + values[12:] + [12.0], improvement=Improvement.DECREASE) is None
    # Below the mean is better: seven below is no concern.
    below = [*STEADY_YEAR, 9.0, 8.0, 9.0, 7.0, 8.0, 9.0, 8.0]
    assert concerning_onset(values=below, improvement=Improvement.DECREASE) is None


def test_too_short_a_history_judges_nothing() -> None:
    values = [*STEADY_YEAR[:11], 10.0, 9.0, 11.0, 10.0, 9.0, 11.0, 40.0]
    assert concerning_onset(values=values, improvement=Improvement.DECREASE) is None


# Powers of two and whole offsets, so rescaling rounds nothing: a point on the mean stays on it.
@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    st.lists(st.integers(min_value=0, max_value=30), min_size=19, max_size=40),
    st.sampled_from([0.25, 0.5, 2.0, 8.0]),
    st.integers(min_value=-100, max_value=100),
)
def test_an_onset_is_on_the_worse_side_and_does_not_depend_on_units(
    values: list[int], scale: float, offset: int
) -> None:
    series = [float(v) for v in values]
    onset = concerning_onset(values=series, improvement=Improvement.DECREASE)
    if onset is not None:
        assert onset.value > onset.mean
        if onset.rule is Rule.BEYOND_LIMITS:
            assert onset.value > onset.upper_limit
    moved = concerning_onset(values=[v * scale + offset for v in series], improvement=Improvement.DECREASE)
    # Rescaling can move a point exactly onto a limit by rounding; away from the limits, the same rule.
    if onset is None or abs(onset.value - onset.upper_limit) > 1e-6 * max(1.0, abs(onset.upper_limit)):
        assert (moved.rule if moved else None) is (onset.rule if onset else None)
