"""The pages of raising a concern (frontend.raise_journey holds the questions and the answers): a
start page, one question a page, "check your answers", then the receipt. Public, never cached.
Each view routes between the journey's pages and calls one service to send; nothing here decides."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from rest_framework.exceptions import ValidationError

from backend.concerns import selectors, services
from backend.config.access import access
from frontend import easy_read
from frontend import raise_journey as journey


def _step_url(step: journey.Step, *, changing: bool = False) -> str:
    return f"/raise/{step.slug}/" + ("?change=1" if changing else "")


@access("public")
@never_cache
@require_GET
def raise_start_page(request: HttpRequest) -> HttpResponse:
    """What happens next, what anonymity means on the web and by text, and "Start now"."""
    return render(request, "frontend/raise_start.html", {"under_way": journey.answers_of(request) is not None})


@access("public")
@never_cache
@require_GET
def raise_easy_read_page(request: HttpRequest) -> HttpResponse:
    """The start page in easy read: short sentences, one idea a line; every page after it speaks the same."""
    return render(request, "frontend/raise_easy_read.html", {"lines": easy_read.START_LINES})


@access("public")
@never_cache
@require_POST
def raise_begin_page(request: HttpRequest) -> HttpResponse:
    journey.journey_start(request, easy_read=request.POST.get("easy_read") == "1")
    return redirect(_step_url(journey.STEPS[0]))


def _question(
    request: HttpRequest,
    step: journey.Step,
    answers: journey.Answers,
    *,
    changing: bool,
    errors: dict[str, list[str]] | None = None,
    shown: dict[str, object] | None = None,
    status: int = 200,
) -> HttpResponse:
    before = journey.step_before(step, answers)
    words = journey.step_words(step, answers)
    context = {
        "step": step,
        "words": words,
        "choices": words.choices,
        "values": shown if shown is not None else answers,
        "errors": errors or {},
        "changing": changing,
        "back": "/raise/check/" if changing else (_step_url(before) if before else "/raise/"),
    }
    return render(request, "frontend/raise_question.html", context, status=status)


@access("public")
@never_cache
@require_http_methods(["GET", "POST"])
def raise_step_page(request: HttpRequest, slug: str) -> HttpResponse:
    step = journey.BY_SLUG.get(slug)
    if step is None:
        raise Http404
    answers = journey.answers_of(request)
    if answers is None:
        return redirect("frontend:raise")  # never started, sent, cancelled or expired
    changing = request.GET.get("change") == "1" or request.POST.get("change") == "1"
    if not step.applies(answers):
        return redirect("frontend:raise_check")
    if request.method == "GET":
        return _question(request, step, answers, changing=changing)
    values, errors = journey.step_check(step=step, data=request.POST)
    if errors:
        shown = answers | journey.step_posted(step, request.POST)
        return _question(request, step, answers, changing=changing, errors=errors, shown=shown, status=400)
    answers = journey.answers_update(request, answers=answers, values=values)
    following = journey.step_unanswered(answers) if changing else journey.step_after(step, answers)
    if following is None:
        return redirect("frontend:raise_check")
    return redirect(_step_url(following, changing=changing))


@access("public")
@never_cache
@require_http_methods(["GET", "POST"])
def raise_check_page(request: HttpRequest) -> HttpResponse:
    """Check your answers (GET), then send (POST): the only moment a concern comes to exist."""
    answers = journey.answers_of(request)
    if answers is None:
        if request.method == "POST" and (
            reference := selectors.concern_reference_for_submission(
                submission_key=request.POST.get("submission_key", "")[:200]
            )
        ):
            return render(request, "frontend/already_received.html", {"reference": reference}, status=409)
        return redirect("frontend:raise")
    if (missing := journey.step_unanswered(answers)) is not None:
        return redirect(_step_url(missing))
    try:
        form = journey.whole_check(answers)
    except ValidationError:
        # An answer that was good on its page and is not now (a ward closed since): ask again.
        return redirect(_step_url(journey.STEPS[0]))
    easy = journey.is_easy_read(answers)
    if request.method == "GET":
        context = {"rows": journey.answer_rows(answers), "submission_key": answers["submission_key"], "easy": easy}
        return render(request, "frontend/raise_check.html", context)
    try:
        raised = services.concern_raise(draft=form.draft(), submission_key=answers["submission_key"])
    except services.DuplicateSubmission as duplicate:
        journey.journey_end(request)
        return render(request, "frontend/already_received.html", {"reference": duplicate.reference}, status=409)
    journey.journey_end(request)
    # The receipt is rendered into this one response and never stored: no redirect, no cache.
    # So is the certificate of disclosure, with the words it was signed over, for the raiser to keep.
    context = {
        "reference": raised.concern.reference,
        "receipt": raised.receipt,
        "certificate": raised.certificate,
        "words": form.validated_data["what_happened"],
        "easy_lines": easy_read.RECEIPT_LINES if easy else (),
    }
    return render(request, "frontend/receipt.html", context)


@access("public")
@never_cache
@require_POST
def raise_cancel_page(request: HttpRequest) -> HttpResponse:
    """Stop, and delete every answer given so far."""
    journey.journey_end(request)
    return render(request, "frontend/raise_cancelled.html")
