"""Template tags for the chart includes: the SVG and the table rows, both from frontend.charts."""

from __future__ import annotations

from django import template
from django.utils.safestring import SafeString

from frontend import charts

register = template.Library()


@register.simple_tag
def spc_chart_svg(data: charts.SpcChartData) -> SafeString:
    return charts.spc_chart_svg(data)


@register.simple_tag
def spc_chart_rows(data: charts.SpcChartData) -> tuple[charts.SpcRow, ...]:
    return charts.spc_rows(data)


@register.simple_tag
def cusum_chart_svg(data: charts.CusumChartData) -> SafeString:
    return charts.cusum_chart_svg(data)


@register.simple_tag
def cusum_chart_rows(data: charts.CusumChartData) -> tuple[charts.CusumRow, ...]:
    return charts.cusum_rows(data)


@register.simple_tag
def timeline_chart_svg(data: charts.TimelineData) -> SafeString:
    return charts.timeline_chart_svg(data)


@register.simple_tag
def timeline_chart_rows(data: charts.TimelineData) -> tuple[charts.TimelineRow, ...]:
    return charts.timeline_rows(data)


@register.simple_tag
def spc_chart_words(data: charts.SpcChartData) -> str:
    """The chart in a sentence, as its SVG's description says it (the PDF prints it under the chart)."""
    return charts.spc_description(data)
