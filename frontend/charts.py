"""Charts a board already knows how to read, drawn on the server as SVG (no JavaScript anywhere).

Two charts, each from a small frozen input that a page fills from the early-warning engine's results
(this module never imports the engine, so the two can change apart):

- ``SpcChartData``: a Making Data Count XmR chart: weekly values, mean (solid), process limits (dashed),
  an optional target, each week's special cause, and the variation and assurance icons.
- ``CusumChartData``: a Poisson CUSUM: the cumulative statistic week by week, its decision threshold,
  and the week it first crossed.

The functions here are pure: data in, markup out. Every piece of text is escaped; the SVG carries
``role="img"`` with a ``<title>`` and a ``<desc>`` in words, and its colours as presentation attributes
(the Content-Security-Policy refuses ``style`` attributes). Layout that needs CSS (the chart scrolls
sideways on a narrow screen rather than shrinking its words) lives in frontend/static/frontend/charts.css.
The table rows that the includes show beside each chart come from here too, already in words.

A week whose value is ``None`` is suppressed ("fewer than 5"): it has no dot, the line breaks around
it, no run of special cause in the description counts it, and the table says "fewer than 5".
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Literal

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

Improvement = Literal["increase", "decrease", "neutral"]
Special = Literal["high", "low"] | None
Direction = Literal["rise", "fall"]
Period = Literal["week", "month", "quarter"]

FEWER_THAN_5 = "fewer than 5"


class Variation(StrEnum):
    """The Making Data Count variation icon: common cause, or special cause of a nature and side. The
    values are the engine's (workflows/engine/spc.py), so a page passes ``Variation(result.value)``."""

    COMMON_CAUSE = "common_cause"
    IMPROVEMENT_HIGH = "improvement_high"
    IMPROVEMENT_LOW = "improvement_low"
    CONCERN_HIGH = "concern_high"
    CONCERN_LOW = "concern_low"
    NEUTRAL_HIGH = "neutral_high"
    NEUTRAL_LOW = "neutral_low"


class Assurance(StrEnum):
    """The Making Data Count assurance icon: can the process be relied on to meet its target? (The
    engine's values too.)"""

    CONSISTENTLY_PASSING = "consistently_passing"
    CONSISTENTLY_FAILING = "consistently_failing"
    HIT_AND_MISS = "hit_and_miss"


@dataclass(frozen=True, kw_only=True)
class SpcPoint:
    week: date  # the Monday the week begins
    value: float | None  # None: suppressed, shown as ``hidden`` says
    special: Special = None  # the engine's special cause on this week, by side of the mean
    hidden: str = FEWER_THAN_5  # the words for a value not shown ("withheld" for a share built on few)


@dataclass(frozen=True, kw_only=True)
class SpcChartData:
    title: str  # "Concerns a week on Ward 7"
    unit_label: str  # "concerns a week"
    points: tuple[SpcPoint, ...]  # oldest first, one a week
    mean: float
    lower: float  # lower process limit
    upper: float  # upper process limit
    improvement: Improvement  # which way is better: "increase", "decrease", or "neutral" (neither; purple)
    variation: Variation
    assurance: Assurance | None = None  # only with a target
    target: float | None = None
    # What each point is: a week (``week`` is its Monday), a month or a quarter (its first day).
    period: Period = "week"

    def __post_init__(self) -> None:
        weeks = [p.week for p in self.points]
        if weeks != sorted(set(weeks)):
            raise ValueError("an SPC chart's weeks must be distinct and oldest first")
        if not self.lower <= self.mean <= self.upper:
            raise ValueError("an SPC chart's mean must lie between its process limits")
        if self.assurance is not None and self.target is None:
            raise ValueError("an assurance icon needs a target")


@dataclass(frozen=True, kw_only=True)
class CusumPoint:
    week: date
    value: float  # the cumulative statistic after this week (0 or more; it grows as evidence grows)


@dataclass(frozen=True, kw_only=True)
class CusumChartData:
    title: str  # "Rise detector for concerns on Ward 7"
    points: tuple[CusumPoint, ...]  # oldest first, one a week
    threshold: float  # the decision threshold: a signal opens when the statistic reaches it
    direction: Direction  # "rise": a doubling; "fall": a fall to half or to nothing (going quiet)

    def __post_init__(self) -> None:
        weeks = [p.week for p in self.points]
        if weeks != sorted(set(weeks)):
            raise ValueError("a CUSUM chart's weeks must be distinct and oldest first")
        if self.threshold <= 0:
            raise ValueError("a CUSUM's decision threshold is above zero")


# Colours from the NHS.UK palette. A special-cause dot is also larger and outlined, so colour is never
# the only sign (and the table and description say it in words).
GREY_DOT = "#768692"
GREY_LINE = "#aeb7bd"
TEXT = "#212b32"
SECONDARY_TEXT = "#4c6272"
CONCERNING = "#ed8b00"
CONCERNING_EDGE = "#7c4a00"
IMPROVING = "#005eb8"
IMPROVING_EDGE = "#003087"
NEITHER = "#330072"
TARGET = "#d5281b"
GRID = "#e8edee"

WIDTH = 760
PLOT_LEFT = 56
PLOT_RIGHT = WIDTH - 104  # room on the right for the lines' names
FONT = 'font-family="Frutiger W01, Arial, sans-serif"'

Nature = Literal["concerning", "improving", "neither"]


@dataclass(frozen=True, kw_only=True)
class SpcRow:
    week: str
    value: str
    mean: str
    lower: str
    upper: str
    target: str
    special: str


@dataclass(frozen=True, kw_only=True)
class CusumRow:
    week: str
    value: str
    threshold: str
    reached: str


# ---------------------------------------------------------------- words


def number_words(value: float) -> str:
    """A figure as a person writes it: whole numbers bare, others to one decimal place."""
    rounded = round(value, 1)
    text = f"{rounded:.0f}" if rounded == int(rounded) else f"{rounded:.1f}"
    return text.replace("-", "\u2212") if rounded < 0 else text


def week_words(week: date, period: Period = "week") -> str:
    if period == "quarter":
        return f"{week:%B} to {date(week.year, week.month + 2, 1):%B %Y}"
    return f"{week:%B %Y}" if period == "month" else f"{week.day} {week:%B %Y}"


def _tick_words(week: date, period: Period) -> str:
    """A point's short name under the axis (the year is written under it where it changes)."""
    if period == "quarter":
        return f"{week:%b}-{date(week.year, week.month + 2, 1):%b}"
    return f"{week:%b}" if period == "month" else f"{week.day} {week:%b}"


def periods_words(count: int, period: Period) -> str:
    return f"1 {period}" if count == 1 else f"{count} {period}s"


def nature_of(*, special: Literal["high", "low"], improvement: Improvement) -> Nature:
    if improvement == "neutral":
        return "neither"
    return "improving" if (special == "high") == (improvement == "increase") else "concerning"


SPECIAL_WORDS: dict[Nature, dict[str, str]] = {
    "concerning": {"high": "Unusually high: a concern", "low": "Unusually low: a concern"},
    "improving": {"high": "Unusually high: an improvement", "low": "Unusually low: an improvement"},
    "neither": {"high": "Unusually high", "low": "Unusually low"},
}
VARIATION_WORDS: dict[Variation, str] = {
    Variation.COMMON_CAUSE: "common cause variation only: no sign of change",
    Variation.CONCERN_HIGH: "special cause of concerning nature, higher than usual",
    Variation.CONCERN_LOW: "special cause of concerning nature, lower than usual",
    Variation.IMPROVEMENT_HIGH: "special cause of improving nature, higher than usual",
    Variation.IMPROVEMENT_LOW: "special cause of improving nature, lower than usual",
    Variation.NEUTRAL_HIGH: "special cause, higher than usual",
    Variation.NEUTRAL_LOW: "special cause, lower than usual",
}
ASSURANCE_WORDS: dict[Assurance, str] = {
    Assurance.CONSISTENTLY_PASSING: "the target is met every week the limits allow: it can be relied on",
    Assurance.CONSISTENTLY_FAILING: "the target will be missed while the process stays as it is",
    Assurance.HIT_AND_MISS: "the target will be met in some weeks and missed in others, by chance",
}
# The icons' short labels, beside the badges on the chart.
VARIATION_BADGE: dict[Variation, tuple[str, str]] = {
    # letter on the badge, label beside it
    Variation.COMMON_CAUSE: ("~", "Common cause"),
    Variation.CONCERN_HIGH: ("H", "Concerning, high"),
    Variation.CONCERN_LOW: ("L", "Concerning, low"),
    Variation.IMPROVEMENT_HIGH: ("H", "Improving, high"),
    Variation.IMPROVEMENT_LOW: ("L", "Improving, low"),
    Variation.NEUTRAL_HIGH: ("H", "Special cause, high"),
    Variation.NEUTRAL_LOW: ("L", "Special cause, low"),
}
ASSURANCE_BADGE: dict[Assurance, tuple[str, str, str]] = {
    Assurance.CONSISTENTLY_PASSING: ("P", "Target met", IMPROVING),
    Assurance.CONSISTENTLY_FAILING: ("F", "Target missed", CONCERNING_EDGE),
    Assurance.HIT_AND_MISS: ("?", "Target hit and miss", SECONDARY_TEXT),
}


def _variation_colour(variation: Variation) -> str:
    if variation.value.startswith("concern_"):
        return CONCERNING_EDGE
    if variation.value.startswith("improvement_"):
        return IMPROVING
    if variation.value.startswith("neutral_"):
        return NEITHER
    return SECONDARY_TEXT


def _special_runs(data: SpcChartData) -> list[tuple[Nature, str, date, int]]:
    """Runs of consecutive shown weeks with the same special cause: (nature, side, first week, length).
    A suppressed week ends a run, so the words never hint at its value."""
    runs: list[tuple[Nature, str, date, int]] = []
    previous: tuple[Nature, str] | None = None
    for point in data.points:
        if point.value is None or point.special is None:
            previous = None
            continue
        key = (nature_of(special=point.special, improvement=data.improvement), point.special)
        if key == previous:
            nature, side, start, length = runs[-1]
            runs[-1] = (nature, side, start, length + 1)
        else:
            runs.append((key[0], key[1], point.week, 1))
        previous = key
    return runs


def spc_description(data: SpcChartData) -> str:
    """The chart in words, for the SVG's <desc> (a screen reader reads it out)."""
    shown = [p for p in data.points if p.value is not None]
    suppressed = len(data.points) - len(shown)
    period = data.period
    if not data.points:
        return f"{data.title}: no {period}s to show yet."
    first, last = week_words(data.points[0].week, period), week_words(data.points[-1].week, period)
    parts = [
        f"{data.title}: {periods_words(len(data.points), period)} from {first} to {last}; "
        f"mean {number_words(data.mean)} {data.unit_label}, process limits {number_words(data.lower)} "
        f"to {number_words(data.upper)}"
        + (f"; target {number_words(data.target)}" if data.target is not None else "")
        + "."
    ]
    parts.append(f"Variation: {VARIATION_WORDS[data.variation]}.")
    runs = _special_runs(data)
    if runs:
        said = [
            f"{'higher' if side == 'high' else 'lower'} than usual "
            f"{f'in the {period} of' if length == 1 else 'from'} {week_words(start, period)}"
            + ("" if length == 1 else f" ({periods_words(length, period)})")
            + {"concerning": ", of concerning nature", "improving": ", of improving nature", "neither": ""}[nature]
            for nature, side, start, length in runs[-3:]
        ]
        earlier = f" (and {len(runs) - 3} earlier)" if len(runs) > 3 else ""
        parts.append(f"Special cause{earlier}: " + "; ".join(said) + ".")
    if data.assurance is not None:
        parts.append(f"Assurance: {ASSURANCE_WORDS[data.assurance]}.")
    hidden = sorted({p.hidden for p in data.points if p.value is None})
    if hidden == [FEWER_THAN_5]:
        parts.append(
            f"{periods_words(suppressed, period)} {'has' if suppressed == 1 else 'have'} {FEWER_THAN_5} and "
            f"{'is' if suppressed == 1 else 'are'} not shown."
        )
    elif hidden:
        parts.append(f"{periods_words(suppressed, period)} not shown ({'; '.join(hidden)}).")
    return " ".join(parts)


def cusum_crossing(data: CusumChartData) -> int | None:
    """The index of the first week the statistic reached the threshold, if it has."""
    for index, point in enumerate(data.points):
        if point.value >= data.threshold:
            return index
    return None


DIRECTION_WORDS: dict[Direction, str] = {
    "rise": "watches for a rise to double the usual rate",
    "fall": "watches for a fall to half the usual rate or to nothing",
}


def cusum_description(data: CusumChartData) -> str:
    if not data.points:
        return f"{data.title}: no weeks to show yet."
    crossing = cusum_crossing(data)
    weeks = "1 week" if len(data.points) == 1 else f"{len(data.points)} weeks"
    said = (
        f"It reached the threshold in the week of {week_words(data.points[crossing].week)}."
        if crossing is not None
        else "It has not reached the threshold."
    )
    return (
        f"{data.title}: a cumulative sum (CUSUM) that {DIRECTION_WORDS[data.direction]}, over {weeks} from "
        f"{week_words(data.points[0].week)} to {week_words(data.points[-1].week)}; decision threshold "
        f"{number_words(data.threshold)}, latest value {number_words(data.points[-1].value)}. {said}"
    )


# ---------------------------------------------------------------- table rows


def spc_rows(data: SpcChartData) -> tuple[SpcRow, ...]:
    return tuple(
        SpcRow(
            week=week_words(p.week, data.period),
            value=p.hidden if p.value is None else number_words(p.value),
            mean=number_words(data.mean),
            lower=number_words(data.lower),
            upper=number_words(data.upper),
            target="" if data.target is None else number_words(data.target),
            special=(
                "Not shown"
                if p.value is None
                else "Usual variation"
                if p.special is None
                else SPECIAL_WORDS[nature_of(special=p.special, improvement=data.improvement)][p.special]
            ),
        )
        for p in data.points
    )


def cusum_rows(data: CusumChartData) -> tuple[CusumRow, ...]:
    crossing = cusum_crossing(data)
    return tuple(
        CusumRow(
            week=week_words(p.week),
            value=number_words(p.value),
            threshold=number_words(data.threshold),
            reached=("Yes: first time" if index == crossing else "Yes" if p.value >= data.threshold else "No"),
        )
        for index, p in enumerate(data.points)
    )


# ---------------------------------------------------------------- geometry


@dataclass(frozen=True, kw_only=True)
class _Frame:
    """Where the plot sits in the SVG and how values and weeks map onto it."""

    top: float
    bottom: float
    low: float
    high: float
    count: int

    def y(self, value: float) -> float:
        return self.bottom - (value - self.low) / (self.high - self.low) * (self.bottom - self.top)

    def x(self, index: int) -> float:
        if self.count <= 1:
            return (PLOT_LEFT + PLOT_RIGHT) / 2
        return PLOT_LEFT + 8 + index * (PLOT_RIGHT - PLOT_LEFT - 16) / (self.count - 1)


def _nice_ticks(*, low: float, high: float, most: int = 6) -> list[float]:
    """Round tick values (1, 2 or 5 times a power of ten) covering low..high."""
    span = high - low
    raw = span / max(most - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    start = math.floor(low / step) * step
    ticks = []
    value = start
    while value <= high + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    return ticks


def _frame(*, values: list[float], top: float, bottom: float, count: int) -> tuple[_Frame, list[float]]:
    low, high = min(values), max(values)
    if low >= 0:
        low = 0.0  # counts and rates start the axis at nothing, as a board expects
    if high - low < 1e-9:
        high = low + 1
    ticks = _nice_ticks(low=low, high=high)
    if ticks[-1] < high:
        ticks.append(ticks[-1] + (ticks[1] - ticks[0]))
    return _Frame(top=top, bottom=bottom, low=ticks[0], high=ticks[-1], count=count), ticks


def _f(value: float) -> str:
    return f"{value:.1f}"


def _text(*, x: float, y: float, words: str, size: int = 13, anchor: str = "start", fill: str = TEXT) -> str:
    return (
        f'<text x="{_f(x)}" y="{_f(y)}" font-size="{size}" text-anchor="{anchor}" fill="{fill}" {FONT}>'
        f"{escape(words)}</text>"
    )


def _axes(*, frame: _Frame, ticks: list[float], weeks: list[date], period: Period = "week") -> list[str]:
    parts = []
    for tick in ticks:
        y = frame.y(tick)
        parts.append(
            f'<line x1="{PLOT_LEFT}" x2="{PLOT_RIGHT}" y1="{_f(y)}" y2="{_f(y)}" stroke="{GRID}" stroke-width="1"/>'
        )
        parts.append(_text(x=PLOT_LEFT - 8, y=y + 4, words=number_words(tick), anchor="end", size=13))
    parts.append(
        f'<line x1="{PLOT_LEFT}" x2="{PLOT_RIGHT}" y1="{_f(frame.bottom)}" y2="{_f(frame.bottom)}" '
        f'stroke="{SECONDARY_TEXT}" stroke-width="1"/>'
    )
    # At most seven week labels, evenly spaced, with the year under the first and wherever it changes.
    if weeks:
        every = max(1, math.ceil(len(weeks) / 7))
        last_year = None
        for index in range(0, len(weeks), every):
            week, x = weeks[index], frame.x(index)
            parts.append(
                f'<line x1="{_f(x)}" x2="{_f(x)}" y1="{_f(frame.bottom)}" y2="{_f(frame.bottom + 5)}" '
                f'stroke="{SECONDARY_TEXT}" stroke-width="1"/>'
            )
            parts.append(_text(x=x, y=frame.bottom + 19, words=_tick_words(week, period), anchor="middle", size=13))
            if week.year != last_year:
                parts.append(_text(x=x, y=frame.bottom + 34, words=str(week.year), anchor="middle", size=13))
                last_year = week.year
    return parts


def _level(*, frame: _Frame, value: float, name: str, colour: str, dash: str | None, width: float) -> list[str]:
    """A horizontal line across the plot (mean, limit, target, threshold) with its name at the right."""
    y = frame.y(value)
    dashing = f' stroke-dasharray="{dash}"' if dash else ""
    return [
        f'<line x1="{PLOT_LEFT}" x2="{PLOT_RIGHT}" y1="{_f(y)}" y2="{_f(y)}" stroke="{colour}" '
        f'stroke-width="{width}"{dashing}/>',
        _text(x=PLOT_RIGHT + 6, y=y + 4, words=f"{name} {number_words(value)}", size=13, fill=colour),
    ]


def _spread_labels(levels: list[tuple[float, str]], *, gap: float = 14) -> dict[str, float]:
    """Nudge the right-hand labels apart so that close lines' names do not overlap."""
    placed: dict[str, float] = {}
    last = -math.inf
    for y, name in sorted(levels):
        y = max(y, last + gap)
        placed[name] = y
        last = y
    return placed


def _polylines(coordinates: list[tuple[float, float] | None], *, colour: str) -> list[str]:
    """The line joining the dots, broken wherever a week is not shown."""
    parts: list[str] = []
    run: list[tuple[float, float]] = []
    for xy in [*coordinates, None]:
        if xy is None:
            if len(run) > 1:
                points = " ".join(f"{_f(x)},{_f(y)}" for x, y in run)
                parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="1.5"/>')
            run = []
        else:
            run.append(xy)
    return parts


def _badge(*, x: float, y: float, letter: str, label: str, colour: str, caption: str) -> list[str]:
    """A Making Data Count icon as a ringed letter with its meaning written beside it."""
    return [
        _text(x=x - 18, y=y - 22, words=caption, size=12, fill=SECONDARY_TEXT),
        f'<circle cx="{_f(x)}" cy="{_f(y)}" r="14" fill="#ffffff" stroke="{colour}" stroke-width="3"/>',
        _text(x=x, y=y + 5, words=letter, size=14, anchor="middle", fill=colour),
        _text(x=x + 20, y=y + 5, words=label, size=13, fill=TEXT),
    ]


def _chart_id(*, kind: str, data: object) -> str:
    """A stable id from the chart's own content, so two different charts on a page never share one."""
    return f"{kind}-{hashlib.sha256(repr(data).encode()).hexdigest()[:12]}"


def _svg(*, chart_id: str, height: int, title: str, description: str, body: list[str]) -> SafeString:
    return mark_safe(  # noqa: S308 (every text in body and here went through escape())
        f'<svg xmlns="http://www.w3.org/2000/svg" class="candour-chart__svg" viewBox="0 0 {WIDTH} {height}" '
        f'width="100%" role="img" focusable="false" aria-labelledby="{chart_id}-title {chart_id}-desc">'
        f'<title id="{chart_id}-title">{escape(title)}</title>'
        f'<desc id="{chart_id}-desc">{escape(description)}</desc>' + "".join(body) + "</svg>"
    )


# ---------------------------------------------------------------- the charts

SPC_HEIGHT = 400
ICON_ROW = 40


def _dot(*, x: float, y: float, nature: Nature | None) -> str:
    if nature is None:
        return f'<circle class="candour-chart__dot" cx="{_f(x)}" cy="{_f(y)}" r="4" fill="{GREY_DOT}"/>'
    fill, edge = {
        "concerning": (CONCERNING, CONCERNING_EDGE),
        "improving": (IMPROVING, IMPROVING_EDGE),
        "neither": (NEITHER, NEITHER),
    }[nature]
    return (
        f'<circle class="candour-chart__dot candour-chart__dot--{nature}" cx="{_f(x)}" cy="{_f(y)}" r="6" '
        f'fill="{fill}" stroke="{edge}" stroke-width="2"/>'
    )


def spc_chart_svg(data: SpcChartData) -> SafeString:
    """The XmR chart as inline SVG, in the Making Data Count look."""
    chart_id = _chart_id(kind="spc", data=data)
    levels = [data.mean, data.lower, data.upper]
    if data.target is not None:
        levels.append(data.target)
    shown = [p.value for p in data.points if p.value is not None]
    frame, ticks = _frame(values=levels + shown, top=ICON_ROW + 60, bottom=SPC_HEIGHT - 44, count=len(data.points))
    body = _axes(frame=frame, ticks=ticks, weeks=[p.week for p in data.points], period=data.period)

    named = [
        (frame.y(data.upper), "Upper limit", data.upper, SECONDARY_TEXT, "6 4", 1.5),
        (frame.y(data.mean), "Mean", data.mean, TEXT, None, 2),
        (frame.y(data.lower), "Lower limit", data.lower, SECONDARY_TEXT, "6 4", 1.5),
    ]
    if data.target is not None:
        named.append((frame.y(data.target), "Target", data.target, TARGET, "2 3", 2))
    label_y = _spread_labels([(y, name) for y, name, *_ in named])
    for y, name, value, colour, dash, width in named:
        dashing = f' stroke-dasharray="{dash}"' if dash else ""
        body.append(
            f'<line class="candour-chart__{name.lower().replace(" ", "-")}" x1="{PLOT_LEFT}" x2="{PLOT_RIGHT}" '
            f'y1="{_f(y)}" y2="{_f(y)}" stroke="{colour}" stroke-width="{width}"{dashing}/>'
        )
        body.append(_text(x=PLOT_RIGHT + 6, y=label_y[name] + 4, words=f"{name} {number_words(value)}", size=13))

    coordinates = [None if p.value is None else (frame.x(i), frame.y(p.value)) for i, p in enumerate(data.points)]
    body += _polylines(coordinates, colour=GREY_LINE)
    for point, xy in zip(data.points, coordinates, strict=True):
        if xy is None:
            continue
        nature = None if point.special is None else nature_of(special=point.special, improvement=data.improvement)
        body.append(_dot(x=xy[0], y=xy[1], nature=nature))

    letter, label = VARIATION_BADGE[data.variation]
    body += _badge(
        x=PLOT_LEFT + 18,
        y=ICON_ROW,
        letter=letter,
        label=label,
        colour=_variation_colour(data.variation),
        caption="Variation",
    )
    if data.assurance is not None:
        letter, label, colour = ASSURANCE_BADGE[data.assurance]
        body += _badge(x=PLOT_LEFT + 258, y=ICON_ROW, letter=letter, label=label, colour=colour, caption="Assurance")
    body.append(
        _text(x=PLOT_LEFT - 48, y=ICON_ROW + 44, words=data.unit_label.capitalize(), size=13, fill=SECONDARY_TEXT)
    )
    return _svg(chart_id=chart_id, height=SPC_HEIGHT, title=data.title, description=spc_description(data), body=body)


CUSUM_HEIGHT = 320


def cusum_chart_svg(data: CusumChartData) -> SafeString:
    """The CUSUM as inline SVG: the statistic, its decision threshold, and where it first crossed."""
    chart_id = _chart_id(kind="cusum", data=data)
    values = [p.value for p in data.points]
    frame, ticks = _frame(values=[data.threshold, *values], top=48, bottom=CUSUM_HEIGHT - 44, count=len(data.points))
    body = _axes(frame=frame, ticks=ticks, weeks=[p.week for p in data.points])
    body += _level(frame=frame, value=data.threshold, name="Threshold", colour=TARGET, dash="6 4", width=2)

    coordinates: list[tuple[float, float] | None] = [(frame.x(i), frame.y(p.value)) for i, p in enumerate(data.points)]
    body += _polylines(coordinates, colour=IMPROVING)
    crossing = cusum_crossing(data)
    for index, point in enumerate(data.points):
        x, y = frame.x(index), frame.y(point.value)
        if point.value >= data.threshold:
            body.append(
                f'<circle class="candour-chart__dot candour-chart__dot--reached" cx="{_f(x)}" cy="{_f(y)}" r="5" '
                f'fill="{CONCERNING}" stroke="{CONCERNING_EDGE}" stroke-width="2"/>'
            )
        else:
            body.append(f'<circle class="candour-chart__dot" cx="{_f(x)}" cy="{_f(y)}" r="3.5" fill="{IMPROVING}"/>')
    if crossing is not None:
        x, y = frame.x(crossing), frame.y(data.points[crossing].value)
        body.append(
            f'<circle class="candour-chart__crossing" cx="{_f(x)}" cy="{_f(y)}" r="11" fill="none" '
            f'stroke="{TEXT}" stroke-width="2"/>'
        )
        anchor = "end" if x > (PLOT_LEFT + PLOT_RIGHT) / 2 else "start"
        body.append(
            _text(
                x=x - 14 if anchor == "end" else x + 14,
                y=max(y - 14, frame.top - 8),
                words=f"Reached {data.points[crossing].week.day} {data.points[crossing].week:%b %Y}",
                anchor=anchor,
                size=13,
            )
        )
    heading = "Cumulative sum (rise)" if data.direction == "rise" else "Cumulative sum (fall)"
    body.append(_text(x=PLOT_LEFT - 48, y=24, words=heading, size=13, fill=SECONDARY_TEXT))
    return _svg(
        chart_id=chart_id, height=CUSUM_HEIGHT, title=data.title, description=cusum_description(data), body=body
    )


# ---------------------------------------------------------------- the timeline

# The timeline puts different measures on one time axis, a lane each with its own scale, so a board
# reads the concern signals against the other indicators month by month (triangulation).


@dataclass(frozen=True, kw_only=True)
class TimelineLane:
    name: str  # "Concerns raised, Northshire Hospitals"
    unit_label: str  # "a month"; "" when the name says it ("Staff who would feel secure (%)")
    values: tuple[float | None, ...]  # one a month, oldest first; None: no figure that month

    @property
    def heading(self) -> str:
        return f"{self.name} ({self.unit_label})" if self.unit_label else self.name


@dataclass(frozen=True, kw_only=True)
class TimelineMark:
    month: date
    words: str  # "Early warning on Ward 7: more than usual (concerns received)"


@dataclass(frozen=True, kw_only=True)
class TimelineData:
    title: str
    months: tuple[date, ...]  # the first day of each month, oldest first, none missing
    lanes: tuple[TimelineLane, ...]
    marks: tuple[TimelineMark, ...] = ()

    def __post_init__(self) -> None:
        if list(self.months) != sorted(set(self.months)):
            raise ValueError("a timeline's months must be distinct and oldest first")
        if any(len(lane.values) != len(self.months) for lane in self.lanes):
            raise ValueError("every lane of a timeline has one value a month")
        if any(mark.month not in self.months for mark in self.marks):
            raise ValueError("a timeline's marks fall on its months")


@dataclass(frozen=True, kw_only=True)
class TimelineRow:
    month: str
    cells: tuple[tuple[str, str], ...]  # (the lane's heading, its figure in words), in lane order
    marks: str  # the early warnings that month, numbered as on the chart


NO_FIGURE = "no figure"


def _mark_numbers(data: TimelineData) -> list[tuple[int, TimelineMark]]:
    return list(enumerate(sorted(data.marks, key=lambda m: m.month), start=1))


def timeline_description(data: TimelineData) -> str:
    if not data.months:
        return "No months to show yet."
    parts = [f"Month by month from {week_words(data.months[0], 'month')} to {week_words(data.months[-1], 'month')}."]
    for lane in data.lanes:
        shown = [v for v in lane.values if v is not None]
        if not shown:
            parts.append(f"{lane.name}: no figures.")
            continue
        latest = next(v for v in reversed(lane.values) if v is not None)
        parts.append(
            f"{lane.heading}: from {number_words(min(shown))} to {number_words(max(shown))}, "
            f"latest {number_words(latest)}."
        )
    numbered = _mark_numbers(data)
    if numbered:
        parts.append(
            "Early warnings: " + "; ".join(f"{n}, {week_words(m.month, 'month')}: {m.words}" for n, m in numbered) + "."
        )
    else:
        parts.append("No early warnings in these months.")
    return " ".join(parts)


def timeline_rows(data: TimelineData) -> tuple[TimelineRow, ...]:
    numbered = _mark_numbers(data)
    rows = []
    for index, month in enumerate(data.months):
        rows.append(
            TimelineRow(
                month=week_words(month, "month"),
                cells=tuple(
                    (
                        lane.heading,
                        NO_FIGURE if lane.values[index] is None else number_words(lane.values[index] or 0.0),
                    )
                    for lane in data.lanes
                ),
                marks="; ".join(f"{n}: {m.words}" for n, m in numbered if m.month == month),
            )
        )
    return tuple(rows)


LANE_HEIGHT = 118
LANE_GAP = 26
TIMELINE_TOP = 44


def timeline_chart_svg(data: TimelineData) -> SafeString:
    """Lanes stacked on one month axis, each with its own scale, and the early warnings as numbered
    lines across every lane at the month they opened."""
    chart_id = _chart_id(kind="timeline", data=data)
    count = len(data.months)
    height = TIMELINE_TOP + len(data.lanes) * (LANE_HEIGHT + LANE_GAP) + 40
    body: list[str] = []
    placement = _Frame(top=TIMELINE_TOP, bottom=height - 40, low=0.0, high=1.0, count=count)
    # One line a month with early warnings, its badge naming every warning of that month by number.
    by_month: dict[date, list[int]] = {}
    for n, mark in _mark_numbers(data):
        by_month.setdefault(mark.month, []).append(n)
    for month, numbers in by_month.items():
        x = placement.x(data.months.index(month))
        badge = ",".join(map(str, numbers)) if len(numbers) <= 2 else f"{numbers[0]}-{numbers[-1]}"
        body.append(
            f'<line class="candour-chart__mark" x1="{_f(x)}" x2="{_f(x)}" y1="{TIMELINE_TOP - 12}" '
            f'y2="{_f(height - 40)}" stroke="{CONCERNING_EDGE}" stroke-width="1.5" stroke-dasharray="4 3"/>'
        )
        body.append(
            f'<circle cx="{_f(x)}" cy="{TIMELINE_TOP - 24}" r="{11 if len(numbers) == 1 else 14}" '
            f'fill="{CONCERNING}" stroke="{CONCERNING_EDGE}" stroke-width="2"/>'
        )
        body.append(_text(x=x, y=TIMELINE_TOP - 19, words=badge, size=12, anchor="middle", fill=TEXT))
    for lane_index, lane in enumerate(data.lanes):
        top = TIMELINE_TOP + lane_index * (LANE_HEIGHT + LANE_GAP) + 22
        bottom = top + LANE_HEIGHT - 22
        shown = [v for v in lane.values if v is not None]
        body.append(_text(x=PLOT_LEFT - 48, y=top - 8, words=lane.heading, size=13))
        frame, ticks = _frame(values=shown or [0.0], top=top, bottom=bottom, count=count)
        kept = [ticks[0], ticks[-1]] if len(ticks) > 1 else ticks  # a lane is small: its ends say its scale
        for tick in kept:
            y = frame.y(tick)
            body.append(
                f'<line x1="{PLOT_LEFT}" x2="{PLOT_RIGHT}" y1="{_f(y)}" y2="{_f(y)}" stroke="{GRID}" stroke-width="1"/>'
            )
            body.append(_text(x=PLOT_LEFT - 8, y=y + 4, words=number_words(tick), anchor="end", size=12))
        coordinates = [None if v is None else (frame.x(i), frame.y(v)) for i, v in enumerate(lane.values)]
        body += _polylines(coordinates, colour=IMPROVING)
        for xy in coordinates:
            if xy is not None:
                body.append(
                    f'<circle class="candour-chart__dot" cx="{_f(xy[0])}" cy="{_f(xy[1])}" r="3" fill="{IMPROVING}"/>'
                )
        if not shown:
            body.append(_text(x=PLOT_LEFT + 8, y=(top + bottom) / 2, words="No figures", size=13, fill=SECONDARY_TEXT))
    axis_y = height - 40
    body.append(
        f'<line x1="{PLOT_LEFT}" x2="{PLOT_RIGHT}" y1="{_f(axis_y)}" y2="{_f(axis_y)}" stroke="{SECONDARY_TEXT}" '
        f'stroke-width="1"/>'
    )
    every = max(1, math.ceil(count / 8))
    last_year = None
    for index in range(0, count, every):
        month, x = data.months[index], placement.x(index)
        body.append(_text(x=x, y=axis_y + 17, words=f"{month:%b}", anchor="middle", size=13))
        if month.year != last_year:
            body.append(_text(x=x, y=axis_y + 32, words=str(month.year), anchor="middle", size=13))
            last_year = month.year
    return _svg(chart_id=chart_id, height=height, title=data.title, description=timeline_description(data), body=body)
