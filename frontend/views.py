"""Pages. Each view calls one backend service or selector and holds no logic of its own."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from backend.concerns import selectors, services
from backend.concerns.inputs import ConcernRaiseInput
from backend.concerns.models import IdentityMode, RaiserKind, Theme
from backend.config.access import access
from backend.organisations.selectors import units_for_raising
from workflows.engine.lifecycle import IllegalTransition


@access("public")
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "frontend/home.html")


def _raise_form(request: HttpRequest, *, errors: dict[str, list[str]] | None = None, status: int = 200) -> HttpResponse:
    context = {
        "units": units_for_raising(),
        "raiser_kinds": RaiserKind.choices,
        "identity_modes": IdentityMode.choices,
        "themes": Theme.choices,
        "errors": errors or {},
        "data": request.POST,
        "selected_themes": request.POST.getlist("themes"),
    }
    return render(request, "frontend/raise.html", context, status=status)


@access("public")
@never_cache
@require_http_methods(["GET", "POST"])
def concern_raise_page(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _raise_form(request)
    form = ConcernRaiseInput(data=request.POST)
    if not form.is_valid():
        errors = {field: [str(m) for m in messages] for field, messages in form.errors.items()}
        return _raise_form(request, errors=errors, status=400)
    raised = services.concern_raise(**form.validated_data)
    # The receipt is rendered into this one response and never stored: no redirect, no cache.
    return render(request, "frontend/receipt.html", {"reference": raised.concern.reference, "receipt": raised.receipt})


@access("public")
@never_cache
@require_http_methods(["GET", "POST"])
def concern_follow_up_page(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return render(request, "frontend/follow_up.html", {"errors": {}})
    try:
        concern = services.concern_for_receipt(code=request.POST.get("receipt", "")[:100])
    except services.TooManyAttempts:
        return render(request, "frontend/busy.html", status=429)
    if concern is None:
        errors = {"receipt": ["We could not find a concern for that receipt code. Check it and try again."]}
        return render(request, "frontend/follow_up.html", {"errors": errors}, status=400)
    timeline = selectors.concern_raiser_timeline(concern=concern)
    return render(request, "frontend/status.html", {"concern": concern, "timeline": timeline})


@access("staff")
@require_GET
def inbox_page(request: HttpRequest) -> HttpResponse:
    return render(request, "frontend/inbox.html", {"concerns": selectors.concern_inbox(user=request.user)[:200]})


@access("staff")
@require_GET
def concern_case_page(request: HttpRequest, reference: str) -> HttpResponse:
    case = selectors.concern_case(user=request.user, reference=reference)
    if case is None:
        raise Http404
    return render(request, "frontend/case.html", {"concern": case.concern, "actions": case.actions})


@access("staff")
@require_POST
def concern_acknowledge_page(request: HttpRequest, reference: str) -> HttpResponse:
    concern = selectors.concern_for_handler(user=request.user, reference=reference)
    if concern is None:
        raise Http404
    try:
        services.concern_acknowledge(concern_id=concern.pk, user=request.user)  # type: ignore[arg-type]
    except IllegalTransition:
        return render(request, "frontend/conflict.html", {"reference": reference}, status=409)
    return redirect("frontend:case", reference=reference)
