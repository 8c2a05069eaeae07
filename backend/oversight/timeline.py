"""One organisation's months on one time axis: the concerns raised, the other indicators imported for
it and the bodies above it, and the early warnings that opened in it (triangulation, DOMAIN.md "Early
warning"). Read from the weekly counts summed by month in the database, the indicators and the
signals: a few rows a month, never a concern."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Sum
from django.db.models.functions import TruncMonth

from backend.concerns import scope
from backend.organisations.models import Organisation, OrganisationKind
from backend.oversight.indicators import indicators_beside
from backend.oversight.models import Measure, Signal, SignalKind, WeeklyCount
from backend.oversight.trends import last_complete_month

MONTHS = 24
# The trusts a dashboard draws a timeline for; more are a list of links to their trends.
DASHBOARD_TIMELINES = 4


@dataclass(frozen=True)
class IndicatorLane:
    label: str
    organisation_name: str
    values: list[float | None]  # one a month; None: nothing imported for that month


@dataclass(frozen=True)
class Timeline:
    organisation: Organisation
    months: list[date]
    received: list[int]
    indicators: list[IndicatorLane]
    signals: list[Signal]  # opened in the organisation or below it, in the months shown

    def signal_month(self, signal: Signal) -> date:
        return signal.week.replace(day=1)


def _months_to(last: date, count: int) -> list[date]:
    months, month = [], last.replace(day=1)
    for _ in range(count):
        months.append(month)
        month = (month - timedelta(days=1)).replace(day=1)
    return months[::-1]


def organisation_timeline(*, organisation: Organisation, last_month: date, months: int = MONTHS) -> Timeline:
    shown = _months_to(last_month, months)
    first, after = shown[0], (shown[-1] + timedelta(days=32)).replace(day=1)
    totals = {
        row["month"]: row["total"]
        for row in WeeklyCount.objects.filter(
            unit__path__startswith=organisation.path,
            measure=Measure.WEEK_RECEIVED,
            theme="",
            week__gte=first,
            week__lt=after,
        )
        .annotate(month=TruncMonth("week"))
        .values("month")
        .annotate(total=Sum("value"))
    }
    lanes: dict[tuple[str, int], dict[date, float]] = {}
    names: dict[tuple[str, int], tuple[str, str]] = {}
    for indicator in indicators_beside(organisation=organisation, first=first, last=shown[-1]):
        key = (indicator.name, indicator.organisation_id)
        lanes.setdefault(key, {})[indicator.month] = indicator.value
        names[key] = (indicator.label, indicator.organisation.name)
    signals = list(
        Signal.objects.filter(unit__path__startswith=organisation.path, week__gte=first, week__lt=after)
        .select_related("unit")
        .order_by("week", "pk")
    )
    return Timeline(
        organisation=organisation,
        months=shown,
        received=[int(totals.get(m, 0)) for m in shown],
        indicators=[
            IndicatorLane(label=names[key][0], organisation_name=names[key][1], values=[lane.get(m) for m in shown])
            for key, lane in sorted(lanes.items(), key=lambda item: names[item[0]])
        ],
        signals=signals,
    )


def signal_words(signal: Signal) -> str:
    """An early warning in a line: where, what it did, and of what."""
    what = signal.get_measure_display().lower()
    if signal.theme:
        what = f"{what}, {signal.theme_label.lower()}"
    return f"{signal.unit.name}: {SignalKind(signal.kind).label.lower()} ({what})"


def dashboard_timelines(*, user: User | AnonymousUser, today: date) -> tuple[list[Timeline], list[Organisation]]:
    """The timelines of the first few trusts the user watches, to the last complete month, and the
    rest of the trusts they watch (the page links their trends)."""
    trusts = list(
        Organisation.objects.filter(kind=OrganisationKind.PROVIDER)
        .filter(scope.units_watched_q(user=user, through=""))
        .order_by("name")
    )
    last = last_complete_month(today)
    drawn = [organisation_timeline(organisation=t, last_month=last) for t in trusts[:DASHBOARD_TIMELINES]]
    return drawn, trusts[DASHBOARD_TIMELINES:]
