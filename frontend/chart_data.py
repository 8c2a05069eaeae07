"""The charts' inputs (frontend/charts.py) filled from what the engine and the selectors found: the
one place that turns a signal's series into the pictures its page draws."""

from __future__ import annotations

from typing import Any

from backend.oversight.models import Signal
from backend.oversight.signals import SignalSeries
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
