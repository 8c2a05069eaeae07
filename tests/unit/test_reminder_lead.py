"""Reminders before a deadline (issue 16, item 2), in the rulebook: the default policy's lead times,
and properties over any start time: a reminder always falls strictly between a clock's start and its
deadline, and counting a working-day lead back from a deadline undoes counting it forward."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workflows.engine.calendar import LONDON, WorkingCalendar
from workflows.engine.policy import (
    ClockKind,
    Facts,
    Lead,
    PolicyError,
    Unit,
    policy_document_load,
    policy_parse,
)

DEFAULT = policy_parse(policy_document_load())
starts = st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC))
closures = st.frozensets(st.dates(min_value=date(2024, 1, 1), max_value=date(2031, 6, 30)), max_size=20)
facts = st.builds(
    Facts,
    raiser_kind=st.sampled_from(["staff", "patient", "carer", "public"]),
    themes=st.just(frozenset({"patient_safety"})),
    urgent=st.booleans(),
    external=st.booleans(),
)


def _staff(**changes: object) -> Facts:
    return Facts(**({"raiser_kind": "staff", "themes": frozenset(), "urgent": False, "external": False} | changes))  # type: ignore[arg-type]


def test_the_default_policy_carries_the_lead_times_as_data() -> None:
    lead = {kind: DEFAULT.rule_for(kind, _staff()).remind_before for kind in ClockKind}  # type: ignore[union-attr]
    assert lead == {
        ClockKind.ACKNOWLEDGE: Lead(2, Unit.WORKING_DAYS),
        ClockKind.FEEDBACK: Lead(15, Unit.CALENDAR_DAYS),
        ClockKind.INACTIVITY: Lead(5, Unit.WORKING_DAYS),
    }
    assert DEFAULT.rule_for(ClockKind.ACKNOWLEDGE, _staff(raiser_kind="patient")).remind_before == Lead(  # type: ignore[union-attr]
        2, Unit.WORKING_DAYS
    )
    assert DEFAULT.rule_for(ClockKind.FEEDBACK, _staff(external=True)).remind_before == Lead(15, Unit.CALENDAR_DAYS)  # type: ignore[union-attr]


def test_a_clock_too_short_for_its_lead_asks_no_reminder() -> None:
    # Urgent: acknowledge within 1 working day, and the rule asks none; a 3-working-day clock with a
    # 2-day lead is reminded after 1 working day.
    cal = WorkingCalendar()
    start = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)  # a Monday
    urgent = DEFAULT.rule_for(ClockKind.ACKNOWLEDGE, _staff(urgent=True))
    assert urgent is not None and urgent.remind_before is None
    assert urgent.remind_at(due=urgent.due(start=start, calendar=cal), start=start, calendar=cal) is None
    patient = DEFAULT.rule_for(ClockKind.ACKNOWLEDGE, _staff(raiser_kind="patient"))
    assert patient is not None
    due = patient.due(start=start, calendar=cal)
    assert patient.remind_at(due=due, start=start, calendar=cal) == datetime(2026, 1, 6, 9, 30, tzinfo=UTC)
    assert patient.remind_at(due=due, start=datetime(2026, 1, 6, 9, 30, tzinfo=UTC), calendar=cal) is None


def test_a_lead_in_months_is_refused_saying_where() -> None:
    document = policy_document_load()
    document["clocks"][1]["remind_before"] = {"amount": 1, "unit": "months"}
    with pytest.raises(PolicyError, match="clocks/1/remind_before/unit"):
        policy_parse(document)


@settings(max_examples=300, deadline=None)
@given(start=starts, situation=facts, kind=st.sampled_from(list(ClockKind)), closed=closures)
def test_a_reminder_always_falls_after_the_start_and_before_the_deadline(
    start: datetime, situation: Facts, kind: ClockKind, closed: frozenset[date]
) -> None:
    cal = WorkingCalendar(closure_days=closed)
    rule = DEFAULT.rule_for(kind, situation)
    assert rule is not None
    due = rule.due(start=start, calendar=cal)
    at = rule.remind_at(due=due, start=start, calendar=cal)
    if rule.remind_before is not None and not closed:
        assert at is not None  # every default lead is shorter than its clock, without closure days
    if at is not None:
        assert start < at < due


@settings(max_examples=300, deadline=None)
@given(start=starts, days=st.integers(min_value=0, max_value=80), closed=closures)
def test_counting_working_days_back_from_a_deadline_undoes_counting_forward(
    start: datetime, days: int, closed: frozenset[date]
) -> None:
    cal = WorkingCalendar(closure_days=closed)
    due = cal.add_working_days(start, days + 1)  # on a working day, at a time of day the start had
    back = cal.subtract_working_days(due, days)
    assert cal.is_working_day(back.astimezone(LONDON).date())
    assert cal.add_working_days(back, days) == due
