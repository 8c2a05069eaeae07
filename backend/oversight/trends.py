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
from django.db.models import Sum, Value
from django.db.models.functions import StrIndex, Substr, TruncMonth

from backend.concerns import scope
from backend.errors import NotFound
from backend.organisations.models import Organisation, OrganisationKind
from backend.oversight.models import Measure, WeeklyCount
from backend.oversight.selectors import Figure, PublicOrganisation
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


def amount_words(definition: TrendDefinition, value: float) -> str:
    """A trend's value as a sentence says it: "80% of those who answered", "3 reports a month"."""
    shown = f"{round(value, 1):g}"
    if definition.denominator is None:
        return f"{shown} {definition.unit_label}"
    return f"{shown}% {definition.unit_label.removeprefix('% ')}"  # a share's label reads "% of ..."


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


def last_complete_month(today: date) -> date:
    """The first day of the month before today's: the last month whose figures are whole."""
    return (today.replace(day=1) - timedelta(days=1)).replace(day=1)


def _months_since(today: date) -> date:
    return _first_of_month(today - timedelta(days=31 * MONTHS))


def _trend_measures() -> set[str]:
    return {t.numerator for t in TRENDS} | {t.denominator for t in TRENDS if t.denominator}


def _trend(definition: TrendDefinition, by_month: dict[str, dict[date, int]], months: list[date]) -> Trend:
    """One trend from the months' totals: a count each month, or a share of the months with a
    denominator (a share of nothing is no point, not a zero)."""
    shown: list[tuple[date, float]] = []
    for month in months:
        count = by_month.get(definition.numerator, {}).get(month, 0)
        if definition.denominator is None:
            shown.append((month, float(count)))
        elif (base := by_month.get(definition.denominator, {}).get(month, 0)) > 0:
            shown.append((month, round(100.0 * count / base, 1)))
    values = [v for _, v in shown]
    chart = spc.xmr_chart(values=values, improvement=spc.Improvement.DECREASE) if len(values) >= 2 else None
    return Trend(definition=definition, months=[m for m, _ in shown], values=values, xmr=chart)


def _months_between(first: date, last: date) -> list[date]:
    months, month = [], first
    while month <= last:
        months.append(month)
        month = (month + timedelta(days=32)).replace(day=1)
    return months


def organisation_watched(*, user: User | AnonymousUser, code: str) -> Organisation:
    """An organisation the user watches (NotFound otherwise, as for none)."""
    organisation = Organisation.objects.filter(code=code).filter(scope.units_watched_q(user=user, through="")).first()
    if organisation is None:
        raise NotFound("No such organisation.")
    return organisation


def organisation_trends(*, user: User | AnonymousUser, code: str, today: date) -> OrganisationTrends:
    """The trends of an organisation the user watches (NotFound otherwise, as for none)."""
    organisation = organisation_watched(user=user, code=code)
    return OrganisationTrends(organisation=organisation, trends=trends_of(organisation=organisation, today=today))


def trends_of(*, organisation: Organisation, today: date, last_month: date | None = None) -> list[Trend]:
    """Every trend of the organisation over the MONTHS before today (to ``last_month`` if given)."""
    since = _months_since(today)
    rows = WeeklyCount.objects.filter(
        unit__path__startswith=organisation.path, measure__in=_trend_measures(), theme="", week__gte=since
    )
    if last_month is not None:
        rows = rows.filter(week__lt=(last_month + timedelta(days=32)).replace(day=1))
    by_month: dict[str, dict[date, int]] = defaultdict(dict)
    for row in rows.annotate(month=TruncMonth("week")).values("month", "measure").annotate(total=Sum("value")):
        by_month[row["measure"]][_first_of_month(row["month"])] = row["total"]
    seen = {m for counts in by_month.values() for m in counts}
    # Every month from the first with a figure: a month with none is a count of nothing, not a gap.
    months = _months_between(min(seen), last_month or max(seen)) if seen else []
    return [_trend(definition, by_month, months) for definition in TRENDS]


@dataclass(frozen=True)
class TrendShift:
    """A trust's trend whose last complete month began a concerning special cause."""

    organisation_id: int
    measure: str  # the trend's numerator: what the signal is about
    month: date
    onset: spc.ShiftOnset


def trend_shifts(*, today: date) -> list[TrendShift]:
    """The nightly look at every trust's trends: which of them, in the last complete month, began
    special cause variation of a concerning nature (workflows.engine.spc.concerning_onset). One
    grouped query over the weekly counts, summed by each unit's trust (the first step of its path)
    and month in the database: a few rows a trust and trend, never a row a concern or a unit."""
    judged = last_complete_month(today)
    since = _months_since(today)
    # "/RX1/RX1W1/" -> "/RX1/": a unit's trust is the root of its path.
    root = Substr("unit__path", 1, StrIndex(Substr("unit__path", 2), Value("/")) + 1)
    rows = (
        WeeklyCount.objects.filter(
            measure__in=_trend_measures(), theme="", week__gte=since, week__lt=_first_of_month(today)
        )
        .annotate(trust=root, month=TruncMonth("week"))
        .values("trust", "month", "measure")
        .annotate(total=Sum("value"))
        .order_by()
    )
    by_trust: dict[str, dict[str, dict[date, int]]] = defaultdict(lambda: defaultdict(dict))
    for row in rows.iterator(chunk_size=5_000):
        by_trust[row["trust"]][row["measure"]][_first_of_month(row["month"])] = row["total"]
    trusts = dict(
        Organisation.objects.filter(path__in=list(by_trust), kind=OrganisationKind.PROVIDER).values_list("path", "pk")
    )
    shifts = []
    for path, by_month in by_trust.items():
        if path not in trusts:
            continue
        first = min(m for counts in by_month.values() for m in counts)
        months = _months_between(first, judged)
        for definition in TRENDS:
            trend = _trend(definition, by_month, months)
            if not trend.months or trend.months[-1] != judged:
                continue  # nothing to judge this month (a share with no denominator)
            onset = spc.concerning_onset(values=trend.values, improvement=spc.Improvement.DECREASE)
            if onset is not None:
                shifts.append(
                    TrendShift(organisation_id=trusts[path], measure=definition.numerator, month=judged, onset=onset)
                )
    return shifts


@dataclass(frozen=True)
class PublicTrend:
    """One published figure of an organisation quarter by quarter, as its public page charts it. The
    values are the published ones, suppressed as published (a count from 1 to 4, a share built on
    one): the chart, its limits and its special causes rest on those alone, so the chart can tell
    nobody more than the table beside it."""

    title: str
    unit_label: str
    improvement: spc.Improvement
    quarters: list[date]  # complete quarters, oldest first
    figures: list[Figure]
    # Each figure to the precision it is published at (a whole number, a whole per cent); None: not shown.
    values: list[float | None]
    xmr: spc.XmRChart | None  # over the shown values; None: fewer than two shown


PUBLIC_TRENDS = (
    ("Concerns received", "concerns a quarter", "concerns_received", spc.Improvement.NEUTRAL),
    ("Acknowledged in time", "% of acknowledgements due", "acknowledged_in_time", spc.Improvement.INCREASE),
    ("Feedback in time", "% of feedback due", "feedback_in_time", spc.Improvement.INCREASE),
    ("Closed without feedback", "% of concerns closed", "closed_without_feedback", spc.Improvement.DECREASE),
)


def public_trends(*, figures: PublicOrganisation) -> list[PublicTrend]:
    """The public page's charts, from the quarters that have ended (a quarter so far would look like a
    fall), built from the published figures and nothing else."""
    ended = sorted((q for q in figures.quarters if q.complete), key=lambda q: q.quarter)
    found = []
    for title, unit_label, field, improvement in PUBLIC_TRENDS:
        published: list[Figure] = [getattr(q, field) for q in ended]
        values = [None if f.value is None else float(round(f.value)) for f in published]
        shown = [v for v in values if v is not None]
        xmr = spc.xmr_chart(values=shown, improvement=improvement) if len(shown) >= 2 else None
        found.append(
            PublicTrend(
                title=f"{title}, {figures.name}",
                unit_label=unit_label,
                improvement=improvement,
                quarters=[q.quarter for q in ended],
                figures=published,
                values=values,
                xmr=xmr,
            )
        )
    return found
