"""Check-ins after closure (issue 13 item 4), in the rulebook: the default policy asks at 1, 3, 6 and
12 months; for any closing moment each check-in falls that many calendar months later at the same
local time in London (the 31st on a short month's last day), strictly in order, each open until the
next falls due and the last for its own wait; a detriment case has clocks of its own."""

from __future__ import annotations

import calendar
import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workflows.engine.calendar import LONDON
from workflows.engine.policy import (
    Aftercare,
    ClockKind,
    Facts,
    PolicyError,
    Unit,
    policy_document_load,
    policy_parse,
)

DEFAULT = policy_parse(policy_document_load())
closings = st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC))
offsets = st.lists(st.integers(min_value=1, max_value=60), min_size=1, max_size=8)


def test_the_default_policy_asks_at_one_three_six_and_twelve_months() -> None:
    assert DEFAULT.aftercare == Aftercare(check_in_months=(1, 3, 6, 12), last_open_days=30, consent_days=7)


@given(closed_at=closings)
def test_each_check_in_falls_its_months_later_at_the_same_local_time(closed_at: datetime) -> None:
    schedule = DEFAULT.aftercare.schedule(closed_at=closed_at, tz=LONDON)
    assert [c.months for c in schedule] == [1, 3, 6, 12]
    local = closed_at.astimezone(LONDON)
    for check_in in schedule:
        due = check_in.due_at.astimezone(LONDON)
        months = local.year * 12 + local.month - 1 + check_in.months
        assert (due.year, due.month) == (months // 12, months % 12 + 1)
        assert due.day == min(local.day, calendar.monthrange(due.year, due.month)[1])
        # The same wall-clock time, except in the hour the clocks skip in spring.
        assert (due.hour, due.minute) == (local.hour, local.minute) or due.utcoffset() != local.utcoffset()
        assert due > closed_at


@given(closed_at=closings, months=offsets, last_open_days=st.integers(min_value=1, max_value=366))
def test_check_ins_are_strictly_in_order_and_each_open_until_the_next(
    closed_at: datetime, months: list[int], last_open_days: int
) -> None:
    """Whatever the order or repeats in the policy: one check-in per offset, none open twice at once."""
    aftercare = Aftercare(check_in_months=tuple(months), last_open_days=last_open_days)
    schedule = aftercare.schedule(closed_at=closed_at, tz=LONDON)
    assert [c.months for c in schedule] == sorted(set(months))
    for earlier, later in itertools.pairwise(schedule):
        assert earlier.due_at < later.due_at
        assert earlier.closes_at == later.due_at
    assert schedule[-1].closes_at == schedule[-1].due_at + timedelta(days=last_open_days)
    assert all(c.due_at < c.closes_at for c in schedule)


def test_a_detriment_case_has_its_own_acknowledge_and_feedback_clocks() -> None:
    case = Facts(raiser_kind="staff", themes=frozenset({"bullying"}), urgent=False, external=False, detriment=True)
    concern = Facts(raiser_kind="staff", themes=frozenset({"bullying"}), urgent=False, external=False)
    acknowledge = DEFAULT.rule_for(ClockKind.ACKNOWLEDGE, case)
    feedback = DEFAULT.rule_for(ClockKind.FEEDBACK, case)
    assert acknowledge is not None and (acknowledge.amount, acknowledge.unit) == (2, Unit.WORKING_DAYS)
    assert feedback is not None and (feedback.amount, feedback.unit) == (1, Unit.MONTHS)
    ordinary = DEFAULT.rule_for(ClockKind.ACKNOWLEDGE, concern)
    assert ordinary is not None and (ordinary.amount, ordinary.unit) == (7, Unit.CALENDAR_DAYS)


@pytest.mark.parametrize(
    "aftercare",
    [{"check_in_months": []}, {"check_in_months": [0]}, {"check_in_months": [1, 1]}, {"consent_days": 0}, {"x": 1}],
)
def test_a_policy_with_a_bad_aftercare_section_is_refused_in_words(aftercare: dict[str, object]) -> None:
    document = policy_document_load() | {"aftercare": aftercare}
    with pytest.raises(PolicyError, match="aftercare"):
        policy_parse(document)
