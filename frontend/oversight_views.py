"""Pages for oversight figures: the governors' dashboard, and the public figures for patient groups.

Each calls one selector and holds no logic. The public pages need no sign-in and show counts only,
with small numbers suppressed by the selector.
"""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from backend.config.access import access
from backend.errors import NotFound
from backend.learning import selectors as learning_selectors
from backend.oversight import selectors
from frontend.chart_data import dashboard_picture, public_organisation_picture, trends_picture


@access("staff")
@require_GET
def oversight_dashboard_page(request: HttpRequest) -> HttpResponse:
    context = dashboard_picture(user=request.user, today=timezone.localdate())
    return render(request, "frontend/oversight_dashboard.html", context)


@access("staff")
@require_GET
def oversight_drill_page(request: HttpRequest, code: str) -> HttpResponse:
    """One organisation of the dashboard, opened out by the units its concerns are about."""
    drill = selectors.oversight_dashboard_drill(user=request.user, code=code[:20])
    if drill is None:
        raise Http404
    return render(request, "frontend/oversight_drill.html", {"drill": drill})


@access("public")
@require_GET
def public_figures_page(request: HttpRequest) -> HttpResponse:
    quarter = None
    if "quarter" in request.GET:
        quarter = selectors.quarter_parse(request.GET["quarter"])
        if quarter is None:
            raise Http404
    figures = selectors.public_figures_by_quarter(quarter=quarter)
    return render(request, "frontend/public_figures.html", {"figures": figures})


@access("public")
@require_GET
def public_figures_organisation_page(request: HttpRequest, code: str) -> HttpResponse:
    context = public_organisation_picture(code=code)
    if context is None:
        raise Http404
    context["you_said_we_did"] = learning_selectors.public_summaries(code=code)
    return render(request, "frontend/public_figures_organisation.html", context)


@access("staff")
@require_GET
def trends_page(request: HttpRequest, code: str) -> HttpResponse:
    """An organisation's trends beyond the count of concerns, month by month, for those who watch it."""
    try:
        context = trends_picture(user=request.user, code=code, today=timezone.localdate())
    except NotFound as missing:
        raise Http404 from missing
    return render(request, "frontend/trends.html", context)
