"""The reports: the guardian's board report of a trust for a quarter (a page and its PDF) and the
prescribed person's annual report (a page, its CSV and its PDF). Each view calls one selector and
holds no logic; anyone who may not read a report gets 404, as for a report that does not exist."""

from __future__ import annotations

import csv
from collections.abc import Iterator

from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils.translation import gettext
from django.views.decorators.http import require_GET

from backend.config.access import access
from backend.errors import NotFound
from backend.oversight import reports
from frontend.chart_data import board_report_picture
from frontend.pdf import pdf_from_html


def _board_context(request: HttpRequest, code: str, quarter: str) -> dict[str, object]:
    first_day = reports.quarter_parse_code(quarter)
    if first_day is None:
        raise Http404
    try:
        return board_report_picture(user=request.user, code=code, quarter=first_day)
    except NotFound as missing:
        raise Http404 from missing


def _annual(request: HttpRequest, regulator: str, year: int) -> reports.AnnualReport:
    if not 2000 <= year <= 2100:
        raise Http404
    try:
        return reports.annual_report(user=request.user, code=regulator, year=year)
    except NotFound as missing:
        raise Http404 from missing


def _pdf(html: str, filename: str) -> HttpResponse:
    response = HttpResponse(pdf_from_html(html=html), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@access("staff")
@require_GET
def board_report_page(request: HttpRequest, code: str, quarter: str) -> HttpResponse:
    return render(request, "frontend/board_report.html", _board_context(request, code, quarter))


@access("staff")
@require_GET
def board_report_pdf(request: HttpRequest, code: str, quarter: str) -> HttpResponse:
    html = render_to_string("frontend/board_report_pdf.html", _board_context(request, code, quarter))
    return _pdf(html, f"candour-board-report-{code}-{quarter}.pdf")


@access("staff")
@require_GET
def annual_report_page(request: HttpRequest, regulator: str, year: int) -> HttpResponse:
    return render(request, "frontend/annual_report.html", {"report": _annual(request, regulator, year)})


@access("staff")
@require_GET
def annual_report_pdf(request: HttpRequest, regulator: str, year: int) -> HttpResponse:
    html = render_to_string("frontend/annual_report_pdf.html", {"report": _annual(request, regulator, year)})
    return _pdf(html, f"candour-annual-report-{regulator}-{year}.pdf")


class _Line:
    """csv.writer writes each row here and the response streams what it returns."""

    def write(self, value: str) -> str:
        return value


def _csv_rows(report: reports.AnnualReport) -> Iterator[str]:
    writer = csv.writer(_Line())
    # The header names columns for machines; the cells below are words for people.
    yield writer.writerow(["section", "measure", "count"])
    yield writer.writerow([gettext("Period"), report.period, ""])
    yield writer.writerow(
        [gettext("Disclosures received"), gettext("Concerns that reached it by escalation"), report.received]
    )
    for label, count in report.disposals:
        yield writer.writerow([gettext("What was done"), label, count])
    for label, count in report.themes:
        yield writer.writerow([gettext("Themes"), label, count])


@access("staff")
@require_GET
def annual_report_csv(request: HttpRequest, regulator: str, year: int) -> StreamingHttpResponse:
    report = _annual(request, regulator, year)
    response = StreamingHttpResponse(_csv_rows(report), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="candour-annual-report-{regulator}-{year}.csv"'
    return response
