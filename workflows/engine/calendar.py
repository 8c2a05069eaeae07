"""Working-day clock arithmetic.

Deadlines are computed in the organisation's local time (Europe/London) and returned in UTC, so a
deadline "5 working days from now" lands on the same wall-clock time across a daylight-saving change.
Working days exclude weekends, England and Wales bank holidays and the organisation's own closure days.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

LONDON = ZoneInfo("Europe/London")


@lru_cache(maxsize=64)
def _bank_holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("GB", subdiv="ENG", years=year).keys())


@dataclass(frozen=True)
class WorkingCalendar:
    closure_days: frozenset[date] = field(default_factory=frozenset)
    tz: ZoneInfo = LONDON

    @classmethod
    def with_closures(cls, days: Iterable[date]) -> WorkingCalendar:
        return cls(closure_days=frozenset(days))

    def is_working_day(self, day: date) -> bool:
        return day.weekday() < 5 and day not in _bank_holidays(day.year) and day not in self.closure_days

    def working_days_left(self, now: datetime, due: datetime) -> int:
        """Whole working days after today (local) up to and including the deadline's day: 0 when it
        falls today or has passed. What a person reads beside a deadline ("3 working days left")."""
        today, last = now.astimezone(self.tz).date(), due.astimezone(self.tz).date()
        return sum(1 for n in range(1, (last - today).days + 1) if self.is_working_day(today + timedelta(days=n)))

    def add_working_days(self, start: datetime, days: int) -> datetime:
        """The same local time ``days`` working days later; a start on a non-working day counts from
        the next working day's start, so the deadline itself is always on a working day."""
        if days < 0:
            raise ValueError("days must not be negative")
        local = start.astimezone(self.tz)
        day = local.date()
        wall = local.timetz().replace(tzinfo=None)
        if not self.is_working_day(day):
            while not self.is_working_day(day):
                day += timedelta(days=1)
            wall = wall.replace(hour=0, minute=0, second=0, microsecond=0)
        remaining = days
        while remaining:
            day += timedelta(days=1)
            if self.is_working_day(day):
                remaining -= 1
        return datetime.combine(day, wall, tzinfo=self.tz).astimezone(UTC)

    def subtract_working_days(self, end: datetime, days: int) -> datetime:
        """The same local time ``days`` working days earlier (a reminder's lead before a deadline):
        the inverse of ``add_working_days`` for a deadline on a working day."""
        if days < 0:
            raise ValueError("days must not be negative")
        local = end.astimezone(self.tz)
        day, wall = local.date(), local.timetz().replace(tzinfo=None)
        remaining = days
        while remaining:
            day -= timedelta(days=1)
            if self.is_working_day(day):
                remaining -= 1
        return datetime.combine(day, wall, tzinfo=self.tz).astimezone(UTC)

    def add_calendar_days(self, start: datetime, days: int) -> datetime:
        if days < 0:
            raise ValueError("days must not be negative")
        local = start.astimezone(self.tz)
        target = datetime.combine(local.date() + timedelta(days=days), local.timetz().replace(tzinfo=None))
        return target.replace(tzinfo=self.tz).astimezone(UTC)

    def subtract_calendar_days(self, end: datetime, days: int) -> datetime:
        """The same local time ``days`` days earlier (across a clock change too)."""
        if days < 0:
            raise ValueError("days must not be negative")
        local = end.astimezone(self.tz)
        target = datetime.combine(local.date() - timedelta(days=days), local.timetz().replace(tzinfo=None))
        return target.replace(tzinfo=self.tz).astimezone(UTC)

    # Pauses. A working-day clock paused for some working time resumes with its deadline moved by exactly
    # that working time: a working day counts its whole 24 hours, a closed day counts none.

    def working_seconds_between(self, start: datetime, end: datetime) -> float:
        if end <= start:
            return 0.0
        total = 0.0
        cursor = start.astimezone(self.tz)
        end_local = end.astimezone(self.tz)
        while cursor < end_local:
            next_midnight = datetime.combine(cursor.date() + timedelta(days=1), datetime.min.time(), tzinfo=self.tz)
            segment_end = min(next_midnight, end_local)
            if self.is_working_day(cursor.date()):
                total += (segment_end.astimezone(UTC) - cursor.astimezone(UTC)).total_seconds()
            cursor = segment_end
        return total

    def add_working_seconds(self, start: datetime, seconds: float) -> datetime:
        cursor = start.astimezone(self.tz)
        remaining = seconds
        while True:
            next_midnight = datetime.combine(cursor.date() + timedelta(days=1), datetime.min.time(), tzinfo=self.tz)
            if self.is_working_day(cursor.date()):
                available = (next_midnight.astimezone(UTC) - cursor.astimezone(UTC)).total_seconds()
                if remaining <= available:
                    return (cursor.astimezone(UTC) + timedelta(seconds=remaining)).astimezone(UTC)
                remaining -= available
            cursor = next_midnight
