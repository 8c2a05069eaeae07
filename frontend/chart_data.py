"""The charts' inputs (frontend/charts.py) filled from what the engine and the selectors found: the
one place that turns a signal's series, or an organisation's trends, into the pictures a page draws."""

from __future__ import annotations

from typing import Any

from backend.oversight import signals
from backend.oversight.indicators import indicators_beside, indicators_trust
from backend.oversight.models import Signal, SignalKind
from backend.oversight.signals import SignalSeries
from backend.oversight.trends import OrganisationTrends, Trend
from frontend.charts import CusumChartData, CusumPoint, SpcChartData, SpcPoint, Variation


def special_of(variation: str) -> Any:
    """The engine's kind of point as the chart's side of the mean: "high", "low" or None."""
    if variation.endswith("_high"):
        return "high"
    if variation.endswith("_low"):
        return "low"
    return None


def signal_charts(*, signal: Signal, series: SignalSeries) -> dict[str, Any]:
    """The SPC chart of the signal's weekly counts and the chart of the detector that opened it.
    Governors and guardians see the true counts: nothing here is public, so nothing is suppressed."""
    where = signal.unit.name
    what = signal.get_measure_display().lower()
    if signal.theme:
        what = f"{what} ({signal.theme_label.lower()})"
    xmr = series.xmr
    spc_chart = SpcChartData(
        title=f"{what.capitalize()} a week on {where}",
        unit_label=f"{what} a week",
        points=tuple(
            SpcPoint(week=week, value=float(count), special=special_of(point.variation.value))
            for week, count, point in zip(series.weeks, series.counts, xmr.points, strict=True)
        ),
        mean=xmr.mean,
        # A count cannot be below nothing: the lower limit stops at zero, as Making Data Count draws it.
        lower=max(0.0, xmr.lower_limit),
        upper=xmr.upper_limit,
        improvement="neutral",
        variation=Variation(xmr.variation.value),
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
    title = f"{trend.definition.title}, {where}"
    return SpcChartData(
        title=title,
        unit_label=trend.definition.unit_label,
        points=tuple(
            SpcPoint(week=month, value=value, special=special_of(point.variation.value))
            for month, value, point in zip(trend.months, trend.values, xmr.points, strict=True)
        ),
        mean=xmr.mean,
        lower=max(0.0, xmr.lower_limit),
        upper=xmr.upper_limit,
        improvement="decrease",
        variation=Variation(xmr.variation.value),
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
        charts = {"spc_chart": trend_chart(trend=trend, where=signal.unit.name), "trend": trend}
        first = trend.months[0] if trend.months else signal.week
    else:
        series = signals.signal_series(signal=signal)
        charts = signal_charts(signal=signal, series=series)
        first = series.weeks[0]
    return {
        "indicators": indicators_beside(organisation=signal.unit, first=first, last=signal.week),
        "indicators_trust": indicators_trust(organisation=signal.unit),
        **charts,
    }
