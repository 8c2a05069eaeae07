"""Pages. Each view calls one backend service or selector and holds no logic of its own."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any

from django.contrib.auth import logout
from django.contrib.auth.models import User
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext, gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from rest_framework.exceptions import ValidationError
from rest_framework.serializers import Serializer

from backend.concerns import action_selectors, aftercare_selectors, selectors, services
from backend.concerns.groups import professional_group_choices, professional_group_label
from backend.concerns.inbox_query import FILTER_LABELS, InboxQuery, InboxQueryInput, InboxSort
from backend.concerns.inputs import (
    ActionCompleteInput,
    ActionRecordInput,
    CloseOutcomeInput,
    ConflictDeclareInput,
    RaiserEscalateInput,
    RaiserMessageInput,
    RaiserReopenInput,
    ReclassifyInput,
    SpeakUpAgainInput,
    StaffNoteInput,
    StaffTextInput,
    StatusShareInput,
)
from backend.concerns.models import RAISER_KIND_CHOICES, THEME_CHOICES, Concern, SpeakUpAgain
from backend.config.access import access
from backend.errors import ApplicationError, Busy, Conflict, ConflictedHandler, Forbidden, Invalid, NotFound
from backend.organisations.inputs import StaffProfileInput
from backend.organisations.models import AlertChannel
from backend.organisations.services import staff_profile_update
from backend.oversight import alert_selectors, signals
from backend.oversight import services as oversight_services
from frontend.chart_data import signal_picture
from workflows.engine.vocabulary import Action, Outcome, Theme, choices


@access("public")
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "frontend/home.html")


FOLLOW_UP_SESSION_KEY = "follow_up_concern"
FOLLOW_UP_SECONDS = 30 * 60  # the only cookie an anonymous raiser keeps, and only this long


def _errors(form: Any) -> dict[str, list[str]]:
    return {field: [str(m) for m in messages] for field, messages in form.errors.items()}


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
        errors = {"receipt": [gettext("We could not find a concern for that receipt code. Check it and try again.")]}
        return render(request, "frontend/follow_up.html", {"errors": errors}, status=400)
    if request.user.is_authenticated:
        # A raiser's follow-up never shares a session with a staff identity: sign the staff member out
        # (the session is flushed) before the receipt's concern is stored in a fresh one.
        logout(request)
    request.session.cycle_key()
    request.session[FOLLOW_UP_SESSION_KEY] = concern.pk
    request.session.set_expiry(FOLLOW_UP_SECONDS)
    return redirect("frontend:follow_up_concern")


def _raiser_concern(request: HttpRequest) -> Concern | None:
    concern_id = request.session.get(FOLLOW_UP_SESSION_KEY)
    return selectors.concern_by_id(concern_id=concern_id) if isinstance(concern_id, int) else None


def _raiser_page(
    request: HttpRequest, concern: Concern, *, errors: dict[str, list[str]] | None = None, status: int = 200
) -> HttpResponse:
    context = {
        "view": selectors.concern_raiser_view(concern=concern),
        "errors": errors or {},
        "data": request.POST,
        "answers": SpeakUpAgain.choices,
        "aftercare": aftercare_selectors.raiser_aftercare(concern=concern),
    }
    return render(request, "frontend/status.html", context, status=status)


RaiserView = Callable[[HttpRequest, Concern], HttpResponse]


def raiser_page(view: RaiserView) -> Callable[[HttpRequest], HttpResponse]:
    """A page about the concern the raiser's follow-up session opened (by its receipt): the view gets
    that concern; without one, the raiser is sent back to enter their receipt. Public and never
    cached, like every page a raiser sees."""

    @access("public")
    @never_cache
    @wraps(view)
    def page(request: HttpRequest) -> HttpResponse:
        concern = _raiser_concern(request)
        if concern is None:
            return redirect("frontend:follow_up")
        return view(request, concern)

    return page


@raiser_page
@require_GET
def follow_up_concern_page(request: HttpRequest, concern: Concern) -> HttpResponse:
    return _raiser_page(request, concern)


RaiserMove = Callable[[HttpRequest, Concern, dict[str, Any]], HttpResponse | None]


def raiser_move(
    *, field: str, refusal: str | Promise, form: type[Serializer[Any]] | None = None
) -> Callable[[RaiserMove], Callable[[HttpRequest], HttpResponse]]:
    """A follow-up page where the raiser does something to their concern (``raiser_page``, POST only):
    a ``form`` that does not check out shows the page again with its errors (400); a move the
    concern's state refuses (closed, answered already) shows ``refusal`` beside ``field`` (409);
    otherwise back to the concern. The page itself calls one service with the checked fields."""

    def decorate(move: RaiserMove) -> Callable[[HttpRequest], HttpResponse]:
        @raiser_page
        @require_POST
        @wraps(move)
        def page(request: HttpRequest, concern: Concern) -> HttpResponse:
            checked = form(data=request.POST) if form is not None else None
            if checked is not None and not checked.is_valid():
                return _raiser_page(request, concern, errors=_errors(checked), status=400)
            try:
                answer = move(request, concern, dict(checked.validated_data) if checked is not None else {})
            except Conflict as refused:
                # A refusal with words of its own (reopened once already) shows them; else ``refusal``.
                words = str(refused) if type(refused) is Conflict and str(refused) else str(refusal)
                return _raiser_page(request, concern, errors={field: [words]}, status=409)
            except Invalid as invalid:
                return _raiser_page(request, concern, errors={field: [str(invalid)]}, status=400)
            return answer or redirect("frontend:follow_up_concern")

        return page

    return decorate


@raiser_move(field="shared", refusal=gettext_lazy("You cannot change this now."), form=StatusShareInput)
def follow_up_status_share_page(request: HttpRequest, concern: Concern, fields: dict[str, Any]) -> HttpResponse | None:
    services.concern_status_share(concern_id=concern.pk, **fields)
    return None


@access("public")
@require_GET
def shared_status_page(request: HttpRequest) -> HttpResponse:
    """Anyone follows a concern whose raiser shared its status, by its reference (a GET form, no
    sign-in): the stage and who holds it, nothing the raiser wrote and never who they are."""
    reference = request.GET.get("reference", "").strip().upper()[:20]
    concern = selectors.concern_shared_status(reference=reference) if reference else None
    status = 404 if reference and concern is None else 200
    context = {"reference": reference, "concern": concern}
    return render(request, "frontend/shared_status.html", context, status=status)


@raiser_move(field="body", refusal=gettext_lazy("This concern is closed."), form=RaiserMessageInput)
def follow_up_message_page(request: HttpRequest, concern: Concern, fields: dict[str, Any]) -> HttpResponse | None:
    services.concern_message_from_raiser(concern_id=concern.pk, **fields)
    return None


@raiser_move(field="confirm", refusal=gettext_lazy("This concern is already closed."))
def follow_up_withdraw_page(request: HttpRequest, concern: Concern, fields: dict[str, Any]) -> HttpResponse | None:
    if request.POST.get("confirm") != "yes":
        errors = {"confirm": [gettext("Tick the box to confirm you want to withdraw your concern.")]}
        return _raiser_page(request, concern, errors=errors, status=400)
    services.concern_withdraw(concern_id=concern.pk)
    return None


@raiser_move(field="escalate", refusal=gettext_lazy("You cannot escalate this concern now."), form=RaiserEscalateInput)
def follow_up_escalate_page(request: HttpRequest, concern: Concern, fields: dict[str, Any]) -> HttpResponse | None:
    """Once the feedback deadline has passed, or feedback is given and the raiser judges it
    inadequate (saying why), the raiser may send the concern up the route."""
    services.concern_escalate_by_raiser(concern_id=concern.pk, **fields)
    return None


@raiser_move(field="reopen", refusal=gettext_lazy("You cannot reopen this concern now."), form=RaiserReopenInput)
def follow_up_reopen_page(request: HttpRequest, concern: Concern, fields: dict[str, Any]) -> HttpResponse | None:
    """Once feedback is given, the raiser may reopen their concern, once."""
    services.concern_reopen_by_raiser(concern_id=concern.pk, **fields)
    return None


@raiser_move(field="answer", refusal=gettext_lazy("You have already answered."), form=SpeakUpAgainInput)
def follow_up_speak_up_again_page(
    request: HttpRequest, concern: Concern, fields: dict[str, Any]
) -> HttpResponse | None:
    services.concern_answer_speak_up_again(concern_id=concern.pk, **fields)
    return None


@access("staff")
@require_GET
def inbox_page(request: HttpRequest) -> HttpResponse:
    """The inbox: filters, counts, order and pages from the query string (a GET form: no script)."""
    form = InboxQueryInput(data=request.GET)
    valid = form.is_valid()
    inbox = selectors.concern_inbox_page(user=request.user, query=form.query() if valid else InboxQuery())
    context = {"inbox": inbox, "errors": {} if valid else _errors(form), **INBOX_CHOICES}
    return render(request, "frontend/inbox.html", context, status=200 if valid else 400)


INBOX_CHOICES = {"filters": list(FILTER_LABELS.items()), "sorts": choices(InboxSort), "themes": choices(Theme)}


def _case_page(
    request: HttpRequest, reference: str, *, errors: dict[str, list[str]] | None = None, status: int = 200
) -> HttpResponse:
    case = selectors.concern_case(user=request.user, reference=reference)
    if case is None:
        raise Http404
    context = {
        "concern": case.concern,
        "actions": case.actions,
        "packet": case.packet,
        "history": case.history,
        "clocks": case.clocks,
        "messages_": case.messages,  # empty in the escalation packet
        "notes": case.notes,  # staff-only; empty in the escalation packet
        "conflicts": case.conflicts,  # who must not handle it: its guardian's at its origin only
        "conflict_of_interest": case.conflict_of_interest,
        "identity_offered": case.identity_offered,
        "handlers": selectors.handlers_for_concern(concern=case.concern) if Action.ASSIGN in case.actions else [],
        # Actions agreed on it (in the packet: titles and dates only), and what the guardian may find.
        "improvement_actions": action_selectors.concern_actions(
            concern=case.concern, packet=case.packet, now=timezone.now()
        ),
        "outcomes": choices(Outcome),
        # The guardian's correction of how the quarterly return counts it (services.concern_reclassify).
        "classification": {
            "themes": THEME_CHOICES,
            "groups": professional_group_choices(),
            "group_label": professional_group_label(case.concern.professional_group),
        }
        if Action.RECLASSIFY in case.actions
        else None,
        # A concern raised by text and not yet placed: its guardian's placing form (frontend.placing_views).
        "placing": {"units": case.placing_units, "raiser_kinds": RAISER_KIND_CHOICES, "themes": THEME_CHOICES}
        if case.placing_units
        else None,
        "errors": errors or {},
    }
    return render(request, "frontend/case.html", context, status=status)


@access("staff")
@require_GET
def concern_case_page(request: HttpRequest, reference: str) -> HttpResponse:
    return _case_page(request, reference)


def _text(request: HttpRequest) -> str:
    form = StaffTextInput(data=request.POST)
    form.is_valid(raise_exception=True)
    return str(form.validated_data["text"])


def _note(request: HttpRequest) -> str:
    form = StaffNoteInput(data=request.POST)
    form.is_valid(raise_exception=True)
    return str(form.validated_data["note"])


def _conflict(cid: int, user: User, request: HttpRequest) -> object:
    """A conflict of interest declared from the case page: the caller's own, or one the guardian names."""
    form = ConflictDeclareInput(data=request.POST)
    form.is_valid(raise_exception=True)
    fields = form.validated_data
    person = None
    if fields["person"]:
        person = User.objects.filter(username=fields["person"]).first()
        if person is None:
            raise ValidationError({"person": [gettext("Choose a member of staff.")]})
    return services.concern_conflict_declare(
        concern_id=cid, user=user, person=person, resolves=fields["resolves"], reason=fields["reason"]
    )


def _checked(form: type[Serializer[Any]], request: HttpRequest) -> dict[str, Any]:
    checked = form(data=request.POST)
    checked.is_valid(raise_exception=True)
    return dict(checked.validated_data)


def _close(cid: int, user: User, request: HttpRequest) -> object:
    return services.concern_close(
        concern_id=cid, user=user, reason=_text(request)[:200], **_checked(CloseOutcomeInput, request)
    )


def _reclassify_input(request: HttpRequest) -> ReclassifyInput:
    """The case page's form sends both fields (ticked themes, the chosen group) every time."""
    form = ReclassifyInput(
        data={
            "themes": request.POST.getlist("themes"),
            "professional_group": request.POST.get("professional_group", ""),
        }
    )
    form.is_valid(raise_exception=True)
    return form


def _handler(request: HttpRequest) -> User:
    handler = User.objects.filter(username=request.POST.get("handler", "")[:150]).first()
    if handler is None:
        raise ValidationError({"handler": [gettext("Choose a handler.")]})
    return handler


# Each staff move on the case page: the service it calls, given the concern, the user and the form.
STAFF_ACTIONS: dict[Action, Callable[[int, User, HttpRequest], object]] = {
    Action.ACKNOWLEDGE: lambda cid, user, _: services.concern_acknowledge(concern_id=cid, user=user),
    Action.START_REVIEW: lambda cid, user, _: services.concern_start_review(concern_id=cid, user=user),
    Action.GIVE_FEEDBACK: lambda cid, user, req: services.concern_give_feedback(
        concern_id=cid, user=user, feedback=_text(req)
    ),
    Action.CLOSE: _close,
    Action.REOPEN: lambda cid, user, _: services.concern_reopen(concern_id=cid, user=user),
    Action.MESSAGE: lambda cid, user, req: services.concern_message_to_raiser(
        concern_id=cid, user=user, body=_text(req)
    ),
    Action.NOTE: lambda cid, user, req: services.concern_note_add(concern_id=cid, user=user, text=_note(req)),
    Action.ASSIGN: lambda cid, user, req: services.concern_assign(concern_id=cid, user=user, handler=_handler(req)),
    Action.DECLARE_CONFLICT: _conflict,
    Action.ESCALATE: lambda cid, user, req: services.concern_escalate_by_guardian(
        concern_id=cid, user=user, reason=_text(req)
    ),
    Action.PAUSE: lambda cid, user, req: services.concern_clocks_pause(concern_id=cid, user=user, reason=_text(req)),
    Action.RESUME: lambda cid, user, _: services.concern_clocks_resume(concern_id=cid, user=user),
    Action.RECORD_ACTION: lambda cid, user, req: services.concern_action_record(
        concern_id=cid, user=user, **_checked(ActionRecordInput, req)
    ),
    Action.COMPLETE_ACTION: lambda cid, user, req: services.concern_action_complete(
        concern_id=cid, user=user, **_checked(ActionCompleteInput, req)
    ),
    Action.RECLASSIFY: lambda cid, user, req: services.concern_reclassify(
        concern_id=cid, user=user, **_reclassify_input(req).arguments()
    ),
}


@access("staff")
@require_POST
def concern_action_page(request: HttpRequest, reference: str, action: str) -> HttpResponse:
    run = STAFF_ACTIONS.get(action)  # type: ignore[call-overload]  # an Action is its own string
    concern = selectors.concern_for_handler(user=request.user, reference=reference)
    if concern is None or run is None:
        raise Http404
    try:
        run(concern.pk, request.user, request)
    except ValidationError as exc:
        detail = exc.detail if isinstance(exc.detail, dict) else {"text": exc.detail}
        errors = {field: [str(m) for m in messages] for field, messages in detail.items()}
        return _case_page(request, reference, errors=errors, status=400)
    except ApplicationError as refused:
        return _refusal_page(request, refused, reference=reference)
    return redirect("frontend:case", reference=reference)


# The one place an application error becomes a page (the API has its own, backend.api.errors).
_REFUSAL_PAGES: dict[type[ApplicationError], tuple[str, int]] = {
    Conflict: ("frontend/conflict.html", 409),
    Forbidden: ("frontend/forbidden.html", 403),
    Busy: ("frontend/busy.html", 429),
}


def _refusal_page(request: HttpRequest, refused: ApplicationError, *, reference: str) -> HttpResponse:
    if isinstance(refused, ConflictedHandler):
        # The case again, its words beside the handler's field: choose someone else.
        return _case_page(request, reference, errors={"handler": [str(refused)]}, status=409)
    for kind, (template, status) in _REFUSAL_PAGES.items():
        if isinstance(refused, kind):
            return render(request, template, {"reference": reference}, status=status)
    if isinstance(refused, Invalid):
        return _case_page(request, reference, errors={"text": [str(refused)]}, status=400)
    raise Http404 from refused  # NotFound: the same answer as a concern the caller may not see


# How far back the alerts page shows resolved alerts, with who resolved each and why.
ALERT_HISTORY = timedelta(days=90)


@access("staff")
@require_GET
def alerts_page(request: HttpRequest) -> HttpResponse:
    """Open sidelining alerts for governors and guardians: rules, references and links, no narrative.
    The form to resolve one is offered only to those who may (governors, commissioners, regulators)."""
    return _alerts_page(request)


def _alerts_page(
    request: HttpRequest, *, errors: dict[str, list[str]] | None = None, status: int = 200
) -> HttpResponse:
    alerts = list(alert_selectors.alerts_visible(user=request.user)[:500])
    resolvable = alert_selectors.alert_ids_resolvable(user=request.user, alerts=alerts)
    resolved = alert_selectors.alerts_resolved_recently(user=request.user, since=timezone.now() - ALERT_HISTORY)
    context = {"alerts": alerts, "resolvable": resolvable, "resolved": resolved, "errors": errors or {}}
    return render(request, "frontend/alerts.html", context, status=status)


@access("staff")
@require_POST
def alert_resolve_page(request: HttpRequest, alert_id: int) -> HttpResponse:
    if not alert_selectors.alerts_visible(user=request.user, open_only=False).filter(pk=alert_id).exists():
        raise Http404
    reason = request.POST.get("reason", "").strip()[:500]
    if not reason:
        return _alerts_page(
            request, errors={f"reason-{alert_id}": [gettext("Say why the alert can be closed.")]}, status=400
        )
    try:
        oversight_services.alert_resolve(alert_id=alert_id, user=request.user, reason=reason)  # type: ignore[arg-type]
    except Forbidden as refused:
        return _alerts_page(request, errors={"maincontent": [str(refused)]}, status=403)
    return redirect("frontend:alerts")


@access("staff")
@require_GET
def signals_page(request: HttpRequest) -> HttpResponse:
    """Early warnings on the units the user watches: the series, what was seen, and the moves."""
    return _signals_page(request)


def _signals_page(
    request: HttpRequest, *, errors: dict[str, list[str]] | None = None, status: int = 200
) -> HttpResponse:
    found = list(signals.signals_watched(user=request.user)[:500])
    context = {
        "open_signals": [x for x in found if x.state != "closed"],
        "closed_signals": [x for x in found if x.state == "closed"][:50],
        "errors": errors or {},
    }
    return render(request, "frontend/signals.html", context, status=status)


@access("staff")
@require_GET
def signal_page(request: HttpRequest, signal_id: int) -> HttpResponse:
    """One early warning: what was seen, the unit's weekly counts as a Making Data Count chart, and
    the detector that opened it, each with its figures in a table."""
    try:
        signal = signals.signal_watched(user=request.user, signal_id=signal_id)
    except NotFound as missing:
        raise Http404 from missing
    context = {"signal": signal, **signal_picture(signal=signal)}
    return render(request, "frontend/signal.html", context)


@access("staff")
@require_POST
def signal_review_page(request: HttpRequest, signal_id: int) -> HttpResponse:
    """Take a signal up: under review."""
    return _signal_move(request, lambda: signals.signal_review(signal_id=signal_id, user=request.user))  # type: ignore[arg-type]


@access("staff")
@require_POST
def signal_close_page(request: HttpRequest, signal_id: int) -> HttpResponse:
    """Close a signal, saying why."""
    reason = request.POST.get("reason", "").strip()[:500]
    if not reason:
        return _signals_page(
            request, errors={f"reason-{signal_id}": [gettext("Say why the signal can be closed.")]}, status=400
        )
    return _signal_move(
        request,
        lambda: signals.signal_close(signal_id=signal_id, user=request.user, reason=reason),  # type: ignore[arg-type]
    )


def _signal_move(request: HttpRequest, move: Callable[[], object]) -> HttpResponse:
    try:
        move()
    except NotFound as missing:
        raise Http404 from missing
    except Conflict as refused:
        return _signals_page(request, errors={"maincontent": [str(refused)]}, status=409)
    return redirect("frontend:signals")


@access("staff")
@never_cache
@require_http_methods(["GET", "POST"])
def notification_settings_page(request: HttpRequest) -> HttpResponse:
    """Each member of staff chooses how alerts reach them: e-mail, text message, or only in Candour."""
    profile = getattr(request.user, "profile", None)
    has_number = bool(profile and profile.sms_token)
    context: dict[str, Any] = {
        "choices": AlertChannel.choices,
        "current": profile.alert_channel if profile else AlertChannel.EMAIL,
        "has_number": has_number,
        "errors": {},
        "saved": False,
    }
    if request.method == "POST":
        form = StaffProfileInput(data=request.POST, context={"has_number": has_number})
        if not form.is_valid():
            context.update(errors=_errors(form), current=request.POST.get("alert_channel", ""))
            return render(request, "frontend/notification_settings.html", context, status=400)
        staff_profile_update(user=request.user, **form.validated_data)  # type: ignore[arg-type]
        context.update(saved=True, current=form.validated_data["alert_channel"], has_number=True)
    return render(request, "frontend/notification_settings.html", context)
