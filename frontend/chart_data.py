"""The charts' inputs (frontend/charts.py) filled from what the engine and the selectors found: the
one place that turns a signal's series, or an organisation's trends, into the pictures a page draws."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from django.contrib.auth.models import AnonymousUser, User

from backend.learning.selectors import public_summaries
from backend.organisations.models import OrganisationKind
from backend.oversight import reports, signals
from backend.oversight.indicators import indicators_trust
from backend.oversight.models import Signal, SignalKind, SignalState
from backend.oversight.selectors import oversight_dashboard, public_figures_for_organisation
from backend.oversight.signals import SignalSeries
from backend.oversight.timeline import (
    Timeline,
    dashboard_timelines,
    organisation_timeline,
    signal_words,
)
from backend.oversight.trends import (
    OrganisationTrends,
    PublicTrend,
    Trend,
    amount_words,
    last_complete_month,
    organisation_trends,
    public_trends,
    trends_of,
)
from frontend.charts import (
    FEWER_THAN_5,
    CusumChartData,
    CusumPoint,
    Improvement,
    Period,
    SpcChartData,
    SpcPoint,
    TimelineData,
    TimelineLane,
    TimelineMark,
    Variation,
)


def special_of(variation: str) -> Any:
    """The engine's kind of point as the chart's side of the mean: "high", "low" or None."""
    if variation.endswith("_high"):
        return "high"
    if variation.endswith("_low"):
        return "low"
    return None


def _spc_chart(
    *,
    title: str,
    unit_label: str,
    xmr: Any,  # the engine's XmRChart over the values shown (frontend never imports the engine)
    periods: Sequence[date],
    values: Sequence[float | None],
    improvement: Improvement,
    period: Period = "week",
    hidden: Sequence[str] | None = None,
    ceiling: float | None = None,
) -> SpcChartData:
    """The one way an engine's XmR chart becomes a page's chart: each period's value, judged by the
    chart's point for it (a value not shown, None, has no point and says ``hidden``'s words). A count
    or a share cannot fall below nothing, so the lower limit stops at zero, as Making Data Count draws
    it; a share cannot pass ``ceiling``."""
    judged = iter(xmr.points)
    points = []
    for index, (when, value) in enumerate(zip(periods, values, strict=True)):
        if value is None:
            words = hidden[index] if hidden is not None else FEWER_THAN_5
            points.append(SpcPoint(week=when, value=None, hidden=words))
        else:
            points.append(SpcPoint(week=when, value=value, special=special_of(next(judged).variation.value)))
    upper = xmr.upper_limit if ceiling is None else min(ceiling, xmr.upper_limit)
    return SpcChartData(
        title=title,
        unit_label=unit_label,
        points=tuple(points),
        mean=xmr.mean,
        lower=max(0.0, xmr.lower_limit),
        upper=upper,
        improvement=improvement,
        variation=Variation(xmr.variation.value),
        period=period,
    )


def signal_charts(*, signal: Signal, series: SignalSeries) -> dict[str, Any]:
    """The SPC chart of the signal's weekly counts and the chart of the detector that opened it.
    Governors and guardians see the true counts: nothing here is public, so nothing is suppressed."""
    where = signal.unit.name
    what = signal.get_measure_display().lower()
    if signal.theme:
        what = f"{what} ({signal.theme_label.lower()})"
    spc_chart = _spc_chart(
        title=f"{what.capitalize()} a week on {where}",
        unit_label=f"{what} a week",
        xmr=series.xmr,
        periods=series.weeks,
        values=[float(c) for c in series.counts],
        improvement="neutral",
    )
    rising = signal.kind == "rise"
    cusum_chart = CusumChartData(
        title=f"{'Rise' if rising else 'Fall'} detector for {what} on {where}",
        points=tuple(CusumPoint(week=w, value=v) for w, v in zip(series.weeks, series.detector, strict=True)),
        threshold=series.threshold,
        direction="rise" if rising else "fall",
    )
    return {"spc_chart": spc_chart, "cusum_chart": cusum_chart}


def trend_chart(*, trend: Trend, where: str) -> SpcChartData | None:
    """A trend's monthly chart (None: not two months to chart yet). Lower is better for every one,
    so a rise is drawn as a concern (orange) and a fall as an improvement (blue)."""
    xmr = trend.xmr
    if xmr is None:
        return None
    return _spc_chart(
        title=f"{trend.definition.title}, {where}",
        unit_label=trend.definition.unit_label,
        xmr=xmr,
        periods=trend.months,
        values=trend.values,
        improvement="decrease",
        period="month",
    )


def trend_charts(*, trends: OrganisationTrends) -> list[tuple[str, SpcChartData | None]]:
    """Each trend's title and its monthly chart."""
    where = trends.organisation.name
    return [(f"{t.definition.title}, {where}", trend_chart(trend=t, where=where)) for t in trends.trends]


def signal_picture(*, signal: Signal) -> dict[str, Any]:
    """Everything a signal's page draws: for a unit's weekly series, its SPC chart and the detector
    that opened it; for a trust's trend, the trend's monthly SPC chart (the rule that opened it is
    on the chart itself). Beside either, the other indicators of the unit and the bodies above it
    over the chart's span (triangulation)."""
    charts: dict[str, Any]
    if signal.kind == SignalKind.SHIFT:
        trend = signals.signal_trend(signal=signal)
        month = f"{signal.week:%B %Y}"
        charts = {
            "spc_chart": trend_chart(trend=trend, where=signal.unit.name),
            "trend": trend,
            "seen": f"{amount_words(trend.definition, signal.recent)} in {month}, against an average of "
            f"{amount_words(trend.definition, signal.baseline)}; the upper process limit is "
            f"{amount_words(trend.definition, signal.threshold)}",
        }
        months = max(len(trend.months), 1)
    else:
        series = signals.signal_series(signal=signal)
        charts = signal_charts(signal=signal, series=series)
        months = SIGNAL_TIMELINE_MONTHS
    # The timeline spans the months the chart above it shows.
    timeline = organisation_timeline(organisation=signal.unit, last_month=signal.week, months=months)
    return {
        "indicators": timeline.indicators,
        "indicators_trust": indicators_trust(organisation=signal.unit),
        "timeline": timeline_chart(timeline=timeline),
        **charts,
    }


# The months a signal's timeline draws: the year its weekly chart shows.
SIGNAL_TIMELINE_MONTHS = 12


def timeline_chart(*, timeline: Timeline) -> TimelineData:
    """An organisation's timeline as the chart draws it: concerns raised first, then each indicator,
    and every early warning as a numbered mark."""
    where = timeline.organisation.name
    lanes = [
        TimelineLane(name="Concerns raised", unit_label="a month", values=tuple(float(v) for v in timeline.received))
    ]
    lanes += [
        TimelineLane(
            name=lane.label if lane.organisation_name == where else f"{lane.label} ({lane.organisation_name})",
            unit_label="",
            values=tuple(lane.values),
        )
        for lane in timeline.indicators
    ]
    return TimelineData(
        title=f"Concerns, early warnings and other indicators, {where}",
        months=tuple(timeline.months),
        lanes=tuple(lanes),
        marks=tuple(TimelineMark(month=timeline.signal_month(s), words=signal_words(s)) for s in timeline.signals),
    )


# The open early warnings a dashboard lists; the early warnings page has the rest.
DASHBOARD_SIGNALS = 5


def dashboard_picture(*, user: User | AnonymousUser, today: date) -> dict[str, Any]:
    """Everything the oversight dashboard shows: the counts that need attention, the open early
    warnings, and each watched trust's timeline (concerns, warnings and indicators on one axis)."""
    drawn, more = dashboard_timelines(user=user, today=today)
    open_signals = signals.signals_watched(user=user).exclude(state=SignalState.CLOSED)
    return {
        "dashboard": oversight_dashboard(user=user),
        "open_signals": list(open_signals[:DASHBOARD_SIGNALS]),
        "open_signal_count": open_signals.count(),
        "timelines": [(t.organisation, timeline_chart(timeline=t)) for t in drawn],
        "more_trusts": more,
        "reports": reports.reports_for(user=user, today=today),
    }


def trends_picture(*, user: User | AnonymousUser, code: str, today: date) -> dict[str, Any]:
    """An organisation's trends page: its timeline (concerns, early warnings and other indicators to
    the last complete month), then each trend's chart. NotFound unless the user watches it."""
    trends = organisation_trends(user=user, code=code, today=today)
    timeline = organisation_timeline(organisation=trends.organisation, last_month=last_complete_month(today))
    return {
        "organisation": trends.organisation,
        "charts": trend_charts(trends=trends),
        "timeline": timeline_chart(timeline=timeline),
        # The board reports of the last four complete quarters, for a trust (a ward has none).
        "board_reports": reports.board_report_quarters(today=today)
        if trends.organisation.kind == OrganisationKind.PROVIDER
        else [],
    }


def public_charts(*, trends: list[PublicTrend]) -> list[tuple[str, SpcChartData | None]]:
    """The public page's charts: each quarter's published figure, a withheld or suppressed quarter
    drawn as a gap with the words the table uses ("fewer than 5", "withheld")."""
    return [
        (
            trend.title,
            None
            if trend.xmr is None
            else _spc_chart(
                title=trend.title,
                unit_label=trend.unit_label,
                xmr=trend.xmr,
                periods=trend.quarters,
                values=trend.values,
                improvement=trend.improvement.value,
                period="quarter",
                hidden=[figure.display for figure in trend.figures],
                ceiling=None if trend.improvement.value == "neutral" else 100.0,
            ),
        )
        for trend in trends
    ]


def public_organisation_picture(*, code: str) -> dict[str, Any] | None:
    """An organisation's public page: its figures quarter by quarter and their charts, suppressed as
    published. None when it has no figures."""
    figures = public_figures_for_organisation(code=code)
    if figures is None:
        return None
    return {"figures": figures, "charts": public_charts(trends=public_trends(figures=figures))}


def board_report_picture(
    *, user: User | AnonymousUser, code: str, quarter: date, now: datetime | None = None
) -> dict[str, Any]:
    """Everything the guardian's board report shows: the quarter's numbers (backend.oversight.reports)
    and each trend's monthly chart over the two years to the quarter's last month. NotFound unless the
    user may read the trust's report."""
    report = reports.board_report(user=user, code=code, quarter=quarter, now=now)
    after = reports.quarter_after(quarter)
    last_month = date(quarter.year, quarter.month + 2, 1)
    trends = trends_of(organisation=report.organisation, today=after, last_month=last_month)
    where = report.organisation.name
    # The learning loop: how many "you said, we did" summaries of concerns closed in the quarter have
    # been published (a count, as the public page shows it; never their words in a board's numbers).
    published = dict(public_summaries(code=code, now=now).counts)
    return {
        "report": report,
        "charts": [(f"{t.definition.title}, {where}", trend_chart(trend=t, where=where)) for t in trends],
        "summaries_published": published.get(report.quarter_label),
    }
