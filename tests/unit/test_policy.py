"""Policies are data checked by a schema; the default follows DOMAIN.md."""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workflows.engine.calendar import LONDON, WorkingCalendar
from workflows.engine.policy import (
    BreachAction,
    ClockKind,
    Facts,
    PolicyError,
    Unit,
    add_months,
    policy_document_load,
    policy_parse,
)

DEFAULT = policy_parse(policy_document_load())


def facts(raiser_kind: str = "staff", *, urgent: bool = False, external: bool = False) -> Facts:
    return Facts(raiser_kind=raiser_kind, themes=frozenset({"other"}), urgent=urgent, external=external)


def test_default_acknowledge_clocks_follow_the_domain() -> None:
    staff = DEFAULT.rule_for(ClockKind.ACKNOWLEDGE, facts("staff"))
    patient = DEFAULT.rule_for(ClockKind.ACKNOWLEDGE, facts("patient"))
    urgent = DEFAULT.rule_for(ClockKind.ACKNOWLEDGE, facts("staff", urgent=True))
    assert staff and (staff.amount, staff.unit) == (7, Unit.CALENDAR_DAYS)
    assert patient and (patient.amount, patient.unit) == (3, Unit.WORKING_DAYS)
    assert urgent and (urgent.amount, urgent.unit) == (1, Unit.WORKING_DAYS)
    assert BreachAction.ESCALATE in staff.on_breach


def test_default_feedback_and_inactivity() -> None:
    feedback = DEFAULT.rule_for(ClockKind.FEEDBACK, facts())
    external = DEFAULT.rule_for(ClockKind.FEEDBACK, facts(external=True))
    inactivity = DEFAULT.rule_for(ClockKind.INACTIVITY, facts())
    assert feedback and (feedback.amount, feedback.unit, feedback.fallback_start_days) == (3, Unit.MONTHS, 7)
    assert external and external.fallback_start_days is None
    assert inactivity and (inactivity.amount, inactivity.unit) == (20, Unit.WORKING_DAYS)
    assert BreachAction.ESCALATE not in inactivity.on_breach


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda d: d["clocks"][0].update(kind="lunch"), "clocks/0/kind"),
        (lambda d: d["clocks"][1]["length"].update(amount=0), "clocks/1/length/amount"),
        (lambda d: d["clocks"][2].update(on_breach=[]), "clocks/2/on_breach"),
        (lambda d: d["clocks"][0]["when"].update(raiser_kind=["robot"]), "clocks/0/when/raiser_kind/0"),
        (lambda d: d.update(extra=1), "(top)"),
    ],
)
def test_a_bad_policy_is_refused_saying_where(change, where: str) -> None:  # type: ignore[no-untyped-def]
    document = copy.deepcopy(policy_document_load())
    change(document)
    with pytest.raises(PolicyError, match=rf"^{re.escape(where)}:"):
        policy_parse(document)


def test_months_clamp_to_the_end_of_a_shorter_month() -> None:
    start = datetime(2026, 11, 30, 12, 0, tzinfo=LONDON)
    assert add_months(start, 3, LONDON).astimezone(LONDON) == datetime(2027, 2, 28, 12, 0, tzinfo=LONDON)


starts = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2029, 12, 31), timezones=st.just(UTC))
spans = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=40))


@settings(max_examples=200, deadline=None)
@given(due=starts, paused=starts, span=spans)
def test_pausing_then_resuming_shifts_the_deadline_by_exactly_the_working_time_paused(due, paused, span) -> None:  # type: ignore[no-untyped-def]
    cal = WorkingCalendar()
    resumed = paused + span
    paused_for = cal.working_seconds_between(paused, resumed)
    new_due = cal.add_working_seconds(due, paused_for)
    assert new_due >= due
    assert abs(cal.working_seconds_between(due, new_due) - paused_for) < 1e-3
