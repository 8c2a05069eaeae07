""" "You said, we did" and lessons: pages that call one backend service or selector each and hold no
logic. A refusal is said in the service's own words (they are written for people)."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from backend.concerns import selectors as concern_selectors
from backend.concerns.models import Concern
from backend.config.access import access
from backend.errors import ApplicationError, Busy, Conflict, Forbidden, Invalid
from backend.learning import selectors, services
from frontend.views import raiser_page

_STATUS: dict[type[ApplicationError], int] = {Conflict: 409, Forbidden: 403, Busy: 429, Invalid: 400}


def _refused(request: HttpRequest, refused: ApplicationError, *, back: str) -> HttpResponse:
    for kind, status in _STATUS.items():
        if isinstance(refused, kind):
            context = {"message": str(refused), "back": back}
            return render(request, "frontend/learning_refused.html", context, status=status)
    raise Http404 from refused  # NotFound: the same answer as something the caller may not see


def _id(request: HttpRequest, field: str) -> int:
    value = request.POST.get(field, "")
    return int(value) if value.isdigit() and len(value) < 12 else 0


def _summary_page(request: HttpRequest, reference: str, *, errors: dict[str, list[str]], status: int) -> HttpResponse:
    try:
        page = selectors.summary_page(user=request.user, reference=reference)
    except ApplicationError as refused:
        return _refused(request, refused, back="/inbox/")
    if page is None:
        raise Http404
    context = {"page": page, "errors": errors, "data": request.POST}
    return render(request, "frontend/summary.html", context, status=status)


@access("staff")
@require_http_methods(["GET", "POST"])
def summary_write_page(request: HttpRequest, reference: str) -> HttpResponse:
    """A concern's "you said, we did" summary: its guardian writes it here (GET shows it)."""
    if request.method == "GET":
        return _summary_page(request, reference, errors={}, status=200)
    concern = concern_selectors.concern_for_handler(user=request.user, reference=reference)
    if concern is None:
        raise Http404
    try:
        services.summary_write(
            concern_id=concern.pk,
            user=request.user,  # type: ignore[arg-type]  # staff pages are signed in
            text=request.POST.get("text", "")[: services.SUMMARY_MAX * 2],
            checklist=request.POST.getlist("checklist"),
        )
    except Invalid as invalid:
        return _summary_page(request, reference, errors={"text": [str(invalid)]}, status=400)
    except ApplicationError as refused:
        return _refused(request, refused, back=f"/you-said-we-did/{reference}/")
    return redirect("frontend:summary_write", reference=reference)


@access("staff")
@require_POST
def lesson_share_page(request: HttpRequest, reference: str) -> HttpResponse:
    """Share a published summary with other organisations as a lesson."""
    concern = concern_selectors.concern_for_handler(user=request.user, reference=reference)
    if concern is None:
        raise Http404
    try:
        services.lesson_share(
            summary_id=_id(request, "summary"),
            user=request.user,  # type: ignore[arg-type]
            title=request.POST.get("title", "")[:1000],
            themes=request.POST.getlist("themes"),
            unit_type=request.POST.get("unit_type", ""),
        )
    except Invalid as invalid:
        return _summary_page(request, reference, errors={"title": [str(invalid)]}, status=400)
    except ApplicationError as refused:
        return _refused(request, refused, back=f"/you-said-we-did/{reference}/")
    return redirect("frontend:summary_write", reference=reference)


@access("staff")
@require_GET
def summaries_page(request: HttpRequest) -> HttpResponse:
    """Summaries about the guardian's organisation waiting for a second guardian's approval."""
    return render(request, "frontend/summaries.html", {"page": selectors.summaries_page(user=request.user)})


@access("staff")
@require_POST
def summary_approve_page(request: HttpRequest) -> HttpResponse:
    try:
        services.summary_approve(summary_id=_id(request, "summary"), user=request.user)  # type: ignore[arg-type]
    except ApplicationError as refused:
        return _refused(request, refused, back="/you-said-we-did/")
    return redirect("frontend:summaries")


def _lessons(request: HttpRequest, *, errors: dict[str, list[str]] | None = None, status: int = 200) -> HttpResponse:
    query = request.GET if request.method == "GET" else request.POST
    try:
        page = selectors.lessons_page(
            user=request.user,
            words=query.get("words", "")[:1000],
            theme=query.get("theme", "")[:40],
            unit_type=query.get("unit_type", "")[:40],
        )
    except ApplicationError as refused:
        return _refused(request, refused, back="/")
    return render(request, "frontend/lessons.html", {"page": page, "errors": errors or {}}, status=status)


@access("staff")
@require_GET
def lessons_page(request: HttpRequest) -> HttpResponse:
    """Lessons shared across organisations: guardians browse, search, mark and link; commissioners
    and regulators see which recur."""
    return _lessons(request)


def _lesson_move(request: HttpRequest, move: Any) -> HttpResponse:
    try:
        move()
    except Invalid as invalid:
        return _lessons(request, errors={"reference": [str(invalid)]}, status=400)
    except ApplicationError as refused:
        return _refused(request, refused, back="/lessons/")
    return redirect("frontend:lessons")


@access("staff")
@require_POST
def lesson_mark_page(request: HttpRequest) -> HttpResponse:
    """ "We have this too"."""
    return _lesson_move(
        request,
        lambda: services.lesson_mark(lesson_id=_id(request, "lesson"), user=request.user),  # type: ignore[arg-type]
    )


@access("staff")
@require_POST
def lesson_link_page(request: HttpRequest) -> HttpResponse:
    """Link one of the guardian's own concerns to a lesson."""
    return _lesson_move(
        request,
        lambda: services.lesson_link(
            lesson_id=_id(request, "lesson"),
            user=request.user,  # type: ignore[arg-type]  # staff pages are signed in
            reference=request.POST.get("reference", "")[:40],
        ),
    )


@raiser_page
@never_cache
@require_http_methods(["GET", "POST"])
def follow_up_summary_page(request: HttpRequest, concern: Concern) -> HttpResponse:
    """The raiser reads the public summary of their concern before anyone else, and may object."""
    if request.method == "POST":
        try:
            services.summary_object(concern_id=concern.pk)
        except ApplicationError as refused:
            return _refused(request, refused, back="/follow-up/concern/summary/")
        return redirect("frontend:follow_up_summary")
    summary = selectors.summary_for_raiser(concern=concern)
    return render(request, "frontend/follow_up_summary.html", {"summary": summary, "reference": concern.reference})
