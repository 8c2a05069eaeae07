"""The charts (frontend/charts.py and its includes) against a hand-made ward: what is drawn, where, in
which colour, what the words say, and that nothing unsafe or unescaped reaches the page."""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET
from datetime import date

import pytest
from django.template.loader import render_to_string

from frontend import charts
from tests.support.chart_samples import WARD_7_VALUES, ward_7_cusum, ward_7_spc, week

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = '<script>alert(1)</script> & "Ward 7" <b>'


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # our own output, parsed to check it is well formed


def dots(root: ET.Element) -> list[ET.Element]:
    return [c for c in root.iter(f"{SVG}circle") if "candour-chart__dot" in c.get("class", "").split()]


def line_y(root: ET.Element, name: str) -> float:
    (line,) = [e for e in root.iter(f"{SVG}line") if e.get("class") == f"candour-chart__{name}"]
    assert line.get("y1") == line.get("y2")
    return float(line.get("y1", "nan"))


def test_the_svg_is_well_formed_and_named_in_words() -> None:
    root = parse(charts.spc_chart_svg(ward_7_spc()))
    assert root.get("role") == "img"
    title_id, desc_id = root.get("aria-labelledby", "").split()
    title = root.find(f"{SVG}title")
    desc = root.find(f"{SVG}desc")
    assert title is not None and title.get("id") == title_id and title.text == "Concerns a week on Ward 7"
    assert desc is not None and desc.get("id") == desc_id
    words = desc.text or ""
    assert "30 weeks from 1 September 2025 to 23 March 2026" in words
    assert "mean 2.1 concerns a week, process limits 0 to 5.6; target 3." in words
    assert "higher than usual from 2 March 2026 (4 weeks), of concerning nature" in words
    assert "lower than usual in the week of 22 December 2025, of improving nature" in words
    assert "2 weeks have fewer than 5 and are not shown" in words
    assert "Assurance: the target will be met in some weeks and missed in others" in words


def test_each_shown_week_is_a_dot_coloured_by_its_special_cause() -> None:
    root = parse(charts.spc_chart_svg(ward_7_spc()))
    drawn = dots(root)
    assert len(drawn) == sum(v is not None for v in WARD_7_VALUES) == 28
    fills = [d.get("fill") for d in drawn]
    assert fills.count(charts.CONCERNING) == 4  # the four high weeks: fewer concerns is better
    assert fills.count(charts.IMPROVING) == 1  # the quiet week
    assert fills.count(charts.GREY_DOT) == 23
    # Oldest first, left to right; the highest week (8) above the upper limit, the quiet one (0) on zero.
    xs = [float(d.get("cx", "nan")) for d in drawn]
    assert xs == sorted(xs)
    ys = [float(d.get("cy", "nan")) for d in drawn]
    upper, mean, lower = line_y(root, "upper-limit"), line_y(root, "mean"), line_y(root, "lower-limit")
    assert min(ys) < upper < mean < lower
    assert ys[drawn.index(next(d for d in drawn if d.get("fill") == charts.IMPROVING))] == pytest.approx(lower)


def test_the_same_high_week_is_an_improvement_when_higher_is_better() -> None:
    data = dataclasses.replace(ward_7_spc(), improvement="increase")
    fills = [d.get("fill") for d in dots(parse(charts.spc_chart_svg(data)))]
    assert fills.count(charts.IMPROVING) == 4 and fills.count(charts.CONCERNING) == 1
    neither = dataclasses.replace(ward_7_spc(), improvement="neutral")
    assert [d.get("fill") for d in dots(parse(charts.spc_chart_svg(neither)))].count(charts.NEITHER) == 5


def test_mean_is_solid_limits_dashed_and_target_only_when_given() -> None:
    root = parse(charts.spc_chart_svg(ward_7_spc()))
    by_class = {e.get("class"): e for e in root.iter(f"{SVG}line") if e.get("class")}
    assert by_class["candour-chart__mean"].get("stroke-dasharray") is None
    assert by_class["candour-chart__upper-limit"].get("stroke-dasharray")
    assert by_class["candour-chart__lower-limit"].get("stroke-dasharray")
    assert "candour-chart__target" in by_class
    untargeted = dataclasses.replace(ward_7_spc(), target=None, assurance=None)
    svg = charts.spc_chart_svg(untargeted)
    assert "candour-chart__target" not in svg and "Assurance" not in svg


def test_the_icons_are_badges_with_words() -> None:
    texts = ["".join(t.itertext()) for t in parse(charts.spc_chart_svg(ward_7_spc())).iter(f"{SVG}text")]
    assert {"Variation", "H", "Concerning, high", "Assurance", "?", "Target hit and miss"} <= set(texts)


def test_a_suppressed_week_is_not_drawn_and_says_fewer_than_5_in_the_table() -> None:
    data = ward_7_spc()
    root = parse(charts.spc_chart_svg(data))
    # Week 10 sits between weeks 9 and 11: no dot at any x in between.
    xs = sorted(float(d.get("cx", "nan")) for d in dots(root))
    assert all(x != pytest.approx((xs[9] + xs[10]) / 2, abs=5) for x in xs)
    assert xs[10] - xs[9] > 1.5 * (xs[9] - xs[8])
    # The line breaks around it: three pieces (weeks 0-9, 11-20, 22-29).
    assert len(list(root.iter(f"{SVG}polyline"))) == 3
    rows = charts.spc_rows(data)
    assert rows[10].value == "fewer than 5" and rows[10].special == "Not shown"
    assert rows[21].value == "fewer than 5"
    html = render_to_string("frontend/includes/spc_chart.html", {"chart": data})
    assert html.count('aria-hidden="true">Concerns a week </span>fewer than 5</td>') == 2


def test_the_table_is_in_words() -> None:
    rows = charts.spc_rows(ward_7_spc())
    assert rows[0].week == "1 September 2025"
    assert (rows[0].value, rows[0].mean, rows[0].lower, rows[0].upper, rows[0].target) == ("2", "2.1", "0", "5.6", "3")
    assert rows[0].special == "Usual variation"
    assert rows[16].special == "Unusually low: an improvement"
    assert rows[26].special == "Unusually high: a concern"
    html = render_to_string("frontend/includes/spc_chart.html", {"chart": ward_7_spc()})
    assert '<caption class="nhsuk-table__caption nhsuk-table__caption--s">Concerns a week on Ward 7' in html
    assert "How to read this chart" in html and "nhsuk-details" in html
    assert "high" not in [r.special for r in rows]  # never the stored word


def test_the_cusum_marks_its_threshold_and_the_week_it_first_reached_it() -> None:
    data = ward_7_cusum()
    root = parse(charts.cusum_chart_svg(data))
    assert len(dots(root)) == 30
    (ring,) = [c for c in root.iter(f"{SVG}circle") if c.get("class") == "candour-chart__crossing"]
    reached = [d for d in dots(root) if d.get("fill") == charts.CONCERNING]
    assert len(reached) == 3 and ring.get("cx") == reached[0].get("cx")  # week 27, 5.4 against 4.8
    desc = root.find(f"{SVG}desc")
    assert desc is not None and "It reached the threshold in the week of 9 March 2026." in (desc.text or "")
    assert "decision threshold 4.8" in (desc.text or "")
    rows = charts.cusum_rows(data)
    assert [r.reached for r in rows[25:]] == ["No", "No", "Yes: first time", "Yes", "Yes"]


def test_a_quiet_cusum_has_no_crossing() -> None:
    data = dataclasses.replace(ward_7_cusum(), threshold=20.0, direction="fall")
    svg = charts.cusum_chart_svg(data)
    assert "candour-chart__crossing" not in svg
    assert "It has not reached the threshold." in svg and "a fall to half the usual rate" in svg


def test_no_inline_style_or_script_anywhere() -> None:
    html = render_to_string("frontend/includes/spc_chart.html", {"chart": ward_7_spc()}) + render_to_string(
        "frontend/includes/cusum_chart.html", {"chart": ward_7_cusum()}
    )
    assert "style=" not in html.lower() and "<script" not in html.lower() and "<style" not in html.lower()


def test_a_hostile_title_is_escaped_everywhere() -> None:
    spc, cusum = ward_7_spc(title=HOSTILE), ward_7_cusum(title=HOSTILE)
    for svg in (charts.spc_chart_svg(spc), charts.cusum_chart_svg(cusum)):
        assert "<script" not in svg and "<b>" not in svg
        title = parse(svg).find(f"{SVG}title")
        assert title is not None and title.text == HOSTILE
    html = render_to_string("frontend/includes/spc_chart.html", {"chart": spc}) + render_to_string(
        "frontend/includes/cusum_chart.html", {"chart": cusum}
    )
    assert "<script" not in html and "<b>" not in html


def test_inputs_that_cannot_be_drawn_are_refused() -> None:
    data = ward_7_spc()
    with pytest.raises(ValueError, match="oldest first"):
        dataclasses.replace(data, points=data.points[::-1])
    with pytest.raises(ValueError, match="between"):
        dataclasses.replace(data, mean=9.0)
    with pytest.raises(ValueError, match="target"):
        dataclasses.replace(data, target=None)
    with pytest.raises(ValueError, match="above zero"):
        dataclasses.replace(ward_7_cusum(), threshold=0.0)


def test_an_empty_series_still_renders() -> None:
    data = dataclasses.replace(ward_7_spc(), points=())
    assert "no weeks to show yet" in charts.spc_chart_svg(data)
    parse(charts.spc_chart_svg(data))
    assert week(0) == date(2025, 9, 1)


def _timeline(**changes: object) -> charts.TimelineData:
    months = tuple(date(2026, m, 1) for m in range(1, 7))
    data = charts.TimelineData(
        title="Concerns, early warnings and other indicators, Northshire",
        months=months,
        lanes=(
            charts.TimelineLane(name="Concerns raised", unit_label="a month", values=(4.0, 6.0, 5.0, 12.0, 11.0, 3.0)),
            charts.TimelineLane(
                name="Staff who would feel secure (%)", unit_label="", values=(None, 61.0, None, None, 55.5, None)
            ),
        ),
        marks=(
            charts.TimelineMark(month=date(2026, 5, 1), words="Ward 7: more than usual"),
            charts.TimelineMark(month=date(2026, 4, 1), words="Ward 9: gone quiet"),
        ),
    )
    return dataclasses.replace(data, **changes)  # type: ignore[arg-type]


def test_a_timeline_draws_every_lane_on_one_month_axis_and_numbers_its_warnings_by_month() -> None:
    data = _timeline()
    root = parse(charts.timeline_chart_svg(data))
    assert len(dots(root)) == 6 + 2  # a dot a month with a figure; none where there is no figure
    marks = [e for e in root.iter(f"{SVG}line") if e.get("class") == "candour-chart__mark"]
    assert len(marks) == 2
    # The same month sits at the same x in every lane: April's mark passes through April's dot.
    april_dot_x = {c.get("cx") for c in dots(root)}
    assert all(m.get("x1") in april_dot_x for m in marks)
    assert float(marks[0].get("x1", "0")) < float(marks[1].get("x1", "0")), "numbered in month order"
    rows = charts.timeline_rows(data)
    assert [r.month for r in rows][:2] == ["January 2026", "February 2026"]
    assert rows[1].cells == (("Concerns raised (a month)", "6"), ("Staff who would feel secure (%)", "61"))
    assert rows[0].cells[1][1] == "no figure"
    assert rows[3].marks == "1: Ward 9: gone quiet" and rows[4].marks == "2: Ward 7: more than usual"
    # Two warnings in one month share its line, its badge naming both.
    both = _timeline(marks=(*data.marks, charts.TimelineMark(month=date(2026, 5, 1), words="Ward 8: fewer than usual")))
    both_root = parse(charts.timeline_chart_svg(both))
    assert len([e for e in both_root.iter(f"{SVG}line") if e.get("class") == "candour-chart__mark"]) == 2
    assert "2,3" in [t.text for t in both_root.iter(f"{SVG}text")]
    assert charts.timeline_rows(both)[4].marks == "2: Ward 7: more than usual; 3: Ward 8: fewer than usual"
    description = charts.timeline_description(data)
    assert "from January 2026 to June 2026" in description
    assert "Concerns raised (a month): from 3 to 12, latest 3." in description
    assert "1, April 2026: Ward 9: gone quiet; 2, May 2026: Ward 7: more than usual." in description


def test_a_timeline_refuses_lanes_and_marks_off_its_months_and_escapes_its_words() -> None:
    with pytest.raises(ValueError, match="one value a month"):
        _timeline(lanes=(charts.TimelineLane(name="x", unit_label="", values=(1.0,)),))
    with pytest.raises(ValueError, match="marks fall on its months"):
        _timeline(marks=(charts.TimelineMark(month=date(2025, 1, 1), words="old"),))
    with pytest.raises(ValueError, match="distinct and oldest first"):
        _timeline(months=tuple(reversed(_timeline().months)))
    hostile = _timeline(title=HOSTILE, marks=(charts.TimelineMark(month=date(2026, 2, 1), words=HOSTILE),))
    svg = charts.timeline_chart_svg(hostile)
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    parse(svg)
    html = render_to_string("frontend/includes/timeline_chart.html", {"chart": hostile})
    assert "<script>" not in html and "1: &lt;script&gt;" in html
