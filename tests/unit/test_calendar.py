"""Working-day clock arithmetic: properties over any start time and length."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from workflows.engine.calendar import LONDON, WorkingCalendar

starts = st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC))
lengths = st.integers(min_value=0, max_value=80)
closures = st.frozensets(st.dates(min_value=date(2024, 1, 1), max_value=date(2031, 6, 30)), max_size=20)


@settings(max_examples=300, deadline=None)
@given(start=starts, days=st.integers(min_value=1, max_value=80), closed=closures)
def test_a_working_day_deadline_falls_on_a_working_day(start: datetime, days: int, closed: frozenset[date]) -> None:
    cal = WorkingCalendar(closure_days=closed)
    due = cal.add_working_days(start, days)
    assert cal.is_working_day(due.astimezone(LONDON).date())
    assert due > start


@settings(max_examples=300, deadline=None)
@given(start=starts, a=lengths, b=lengths)
def test_more_days_never_give_an_earlier_deadline(start: datetime, a: int, b: int) -> None:
    cal = WorkingCalendar()
    lo, hi = sorted((a, b))
    assert cal.add_working_days(start, lo) <= cal.add_working_days(start, hi)
    assert cal.add_calendar_days(start, lo) <= cal.add_calendar_days(start, hi)


def test_bank_holidays_and_weekends_are_skipped() -> None:
    cal = WorkingCalendar()
    # Thursday 24 December 2026 10:00 London; 25, 26 (Sat), 27 (Sun), 28 (Boxing Day substitute) are not
    # working days, so one working day later is Tuesday 29 December.
    start = datetime(2026, 12, 24, 10, 0, tzinfo=LONDON)
    assert cal.add_working_days(start, 1).astimezone(LONDON) == datetime(2026, 12, 29, 10, 0, tzinfo=LONDON)


def test_deadline_keeps_wall_clock_time_across_daylight_saving() -> None:
    cal = WorkingCalendar()
    # Friday 27 March 2026 09:00 GMT; clocks go forward on Sunday 29 March.
    start = datetime(2026, 3, 27, 9, 0, tzinfo=LONDON)
    due = cal.add_working_days(start, 1)
    assert due.astimezone(LONDON).hour == 9
    assert due - start.astimezone(UTC) == timedelta(days=3) - timedelta(hours=1)
    seven = cal.add_calendar_days(start, 7)
    assert seven.astimezone(LONDON) == datetime(2026, 4, 3, 9, 0, tzinfo=LONDON)


def test_an_organisations_closure_day_is_not_a_working_day() -> None:
    closed = WorkingCalendar.with_closures([date(2026, 6, 3)])
    start = datetime(2026, 6, 2, 12, 0, tzinfo=LONDON)  # Tuesday
    assert closed.add_working_days(start, 1).astimezone(LONDON).date() == date(2026, 6, 4)
    assert WorkingCalendar().add_working_days(start, 1).astimezone(LONDON).date() == date(2026, 6, 3)
