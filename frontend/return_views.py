"""The quarterly return's page and its download, for guardians and commissioners (anyone else: 404).
Each view checks its query with the API's own input and calls one selector."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from backend.api.return_views import csv_download
from backend.config.access import access
from backend.oversight import returns
from backend.oversight.return_inputs import QuarterlyReturnQuery


@access("staff")
@require_GET
def quarterly_return_page(request: HttpRequest) -> HttpResponse:
    form = QuarterlyReturnQuery(data=request.GET, partial=True)
    valid = form.is_valid()
    data = form.validated_data if valid else {}
    page = returns.quarterly_return_page_for(
        user=request.user,
        code=data.get("organisation"),
        quarter=data.get("quarter"),
        published=bool(data.get("published", False)),
    )
    if page is None:
        raise Http404
    errors = {field: [str(m) for m in messages] for field, messages in form.errors.items()}
    context = {"page": page, "found": page.found, "errors": errors}
    return render(request, "frontend/return_quarterly.html", context, status=200 if valid else 400)


@access("staff")
@require_GET
def quarterly_return_download(request: HttpRequest) -> StreamingHttpResponse | HttpResponse:
    if not returns.return_organisations(user=request.user):
        raise Http404  # nothing for anyone who produces no return, not even what the query lacks
    form = QuarterlyReturnQuery(data=request.GET)
    if not form.is_valid():
        words = "; ".join(f"{field}: {' '.join(map(str, m))}" for field, m in form.errors.items())
        return HttpResponse(words, status=400, content_type="text/plain; charset=utf-8")
    query = form.query()
    rows = returns.quarterly_return_csv_for(user=request.user, **query)
    if rows is None:
        raise Http404
    name = returns.quarter_name(query["quarter"])
    return csv_download(rows, code=query["code"], quarter_name=name, published=query["published"])
