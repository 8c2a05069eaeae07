"""An organisation's trends (backend.oversight.trends) as the SPC charts the trends page draws."""

from __future__ import annotations

from backend.oversight.trends import OrganisationTrends
from frontend.chart_data import special_of
from frontend.charts import SpcChartData, SpcPoint, Variation


def trend_charts(*, trends: OrganisationTrends) -> list[tuple[str, SpcChartData | None]]:
    """Each trend's title and its monthly chart (None: not two months to chart yet). Lower is better
    for every one, so a rise is drawn as a concern (orange) and a fall as an improvement (blue)."""
    out: list[tuple[str, SpcChartData | None]] = []
    for trend in trends.trends:
        title = f"{trend.definition.title}, {trends.organisation.name}"
        xmr = trend.xmr
        if xmr is None:
            out.append((title, None))
            continue
        out.append(
            (
                title,
                SpcChartData(
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
                ),
            )
        )
    return out
