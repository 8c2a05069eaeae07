"""Trends per organisation beyond the count of concerns: the share of raisers who would not speak up
again, of concerns closed without feedback, of acknowledgements late, and the months' reports of
detriment and of "nothing was done". Read from the weekly counts (WeeklyCount, kept by the figures
fold), summed over the organisation's units by month in the database: never a scan of the concerns.
Each as a Making Data Count XmR chart (workflows.engine.spc), lower being better for every one."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Sum
from django.db.models.functions import TruncMonth

from backend.concerns import scope
from backend.errors import NotFound
from backend.organisations.models import Organisation
from backend.oversight.models import Measure, WeeklyCount
from workflows.engine import spc

MONTHS = 24


@dataclass(frozen=True)
class TrendDefinition:
    title: str  # what the chart shows, in words
    unit_label: str
    numerator: str  # a weekly measure
    denominator: str | None  # another, for a share (as a percentage); None for a count


TRENDS = (
    TrendDefinition(
        "Raisers who would not speak up again",
        "% of those who answered",
        Measure.WEEK_WOULD_NOT_SPEAK_UP,
        Measure.WEEK_SPEAK_UP_ANSWERED,
    ),
    TrendDefinition(
        "Concerns closed without feedback",
        "% of concerns closed",
        Measure.WEEK_CLOSED_WITHOUT_FEEDBACK,
        Measure.WEEK_CLOSED,
    ),
    TrendDefinition(
        "Acknowledgements late", "% of acknowledgements due", Measure.WEEK_ACK_LATE, Measure.WEEK_ACK_DECIDED
    ),
    TrendDefinition("Detriment reported", "reports a month", Measure.WEEK_DETRIMENT, None),
    TrendDefinition('Raisers who said "nothing was done"', "reports a month", Measure.WEEK_NOTHING_DONE, None),
)


@dataclass(frozen=True)
class Trend:
    definition: TrendDefinition
    months: list[date]  # the months with something to show (a share needs a denominator)
    values: list[float]
    xmr: spc.XmRChart | None  # None: fewer than two months to chart


@dataclass(frozen=True)
class OrganisationTrends:
    organisation: Organisation
    trends: list[Trend]


def _first_of_month(day: date) -> date:
    return day.replace(day=1)


def organisation_trends(*, user: User | AnonymousUser, code: str, today: date) -> OrganisationTrends:
    """The trends of an organisation the user watches (NotFound otherwise, as for none)."""
    organisation = Organisation.objects.filter(code=code).filter(scope.units_watched_q(user=user, through="")).first()
    if organisation is None:
        raise NotFound("No such organisation.")
    since = _first_of_month(today - timedelta(days=31 * MONTHS))
    measures = {t.numerator for t in TRENDS} | {t.denominator for t in TRENDS if t.denominator}
    rows = (
        WeeklyCount.objects.filter(
            unit__path__startswith=organisation.path, measure__in=measures, theme="", week__gte=since
        )
        .annotate(month=TruncMonth("week"))
        .values("month", "measure")
        .annotate(total=Sum("value"))
    )
    by_month: dict[str, dict[date, int]] = defaultdict(dict)
    for row in rows:
        by_month[row["measure"]][_first_of_month(row["month"])] = row["total"]
    months = sorted({m for counts in by_month.values() for m in counts})
    trends = []
    for definition in TRENDS:
        shown: list[tuple[date, float]] = []
        for month in months:
            count = by_month[definition.numerator].get(month, 0)
            if definition.denominator is None:
                shown.append((month, float(count)))
            elif (base := by_month[definition.denominator].get(month, 0)) > 0:
                shown.append((month, round(100.0 * count / base, 1)))
        values = [v for _, v in shown]
        chart = spc.xmr_chart(values=values, improvement=spc.Improvement.DECREASE) if len(values) >= 2 else None
        trends.append(Trend(definition=definition, months=[m for m, _ in shown], values=values, xmr=chart))
    return OrganisationTrends(organisation=organisation, trends=trends)
