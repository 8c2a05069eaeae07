"""Clock policy: which clock runs, how long it is, what its breach does.

The defaults come from DOMAIN.md. Later, policies become versioned data in workflows/policies; the
shape here (a pure function of the concern's facts) is what they will plug into.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from workflows.engine.calendar import WorkingCalendar


class ClockKind(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    FEEDBACK = "feedback"
    INACTIVITY = "inactivity"


class DayKind(StrEnum):
    WORKING = "working"
    CALENDAR = "calendar"


class BreachAction(StrEnum):
    REMIND = "remind"
    ESCALATE = "escalate"
    ALERT_GOVERNORS = "alert_governors"


@dataclass(frozen=True)
class ClockRule:
    kind: ClockKind
    days: int
    day_kind: DayKind
    on_breach: BreachAction

    def due(self, *, start: datetime, calendar: WorkingCalendar) -> datetime:
        if self.day_kind is DayKind.WORKING:
            return calendar.add_working_days(start, self.days)
        return calendar.add_calendar_days(start, self.days)


STAFF_KINDS = frozenset({"staff"})


def acknowledge_rule(*, raiser_kind: str, urgent: bool) -> ClockRule:
    """Urgent patient-safety concerns: 1 working day; patients, carers and the public: 3 working
    days (complaints regulations, reg. 13); staff: 7 calendar days (directive art. 9(1)(b))."""
    if urgent:
        return ClockRule(ClockKind.ACKNOWLEDGE, 1, DayKind.WORKING, BreachAction.ESCALATE)
    if raiser_kind in STAFF_KINDS:
        return ClockRule(ClockKind.ACKNOWLEDGE, 7, DayKind.CALENDAR, BreachAction.ESCALATE)
    return ClockRule(ClockKind.ACKNOWLEDGE, 3, DayKind.WORKING, BreachAction.ESCALATE)
