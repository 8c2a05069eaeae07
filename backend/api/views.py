"""REST API, one view per use case. Each calls one service or selector; permissions are declared here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import django_filters
from django.contrib.auth import get_user_model
from django.http import Http404
from django.utils import timezone
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema
from rest_framework import generics, permissions, serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.api import serializers as s
from backend.concerns import action_selectors, selectors, services
from backend.concerns.inbox_query import InboxFilter, InboxSort
from backend.concerns.inputs import ConcernRaiseInput, ReclassifyInput
from backend.concerns.models import THEME_CHOICES, Concern
from backend.oversight import alert_selectors, signals
from backend.oversight import services as oversight_services
from workflows.engine.lifecycle import State
from workflows.engine.vocabulary import choices


class ConcernRaiseApi(APIView):
    """Anyone may raise a concern; an anonymous raiser leaves nothing that identifies them."""

    permission_classes = [permissions.AllowAny]
    authentication_classes: list[type] = []

    @extend_schema(request=ConcernRaiseInput, responses={201: s.RaisedOutput})
    def post(self, request: Request) -> Response:
        data = ConcernRaiseInput(data=request.data)
        data.is_valid(raise_exception=True)
        raised = services.concern_raise(draft=data.draft(), submission_key=data.validated_data["submission_key"])
        certificate = {"certificate": raised.certificate.fields, "signature": raised.certificate.signature}
        body = s.RaisedOutput(
            {"reference": raised.concern.reference, "receipt": raised.receipt, "disclosure_certificate": certificate}
        ).data
        return Response(body, status=status.HTTP_201_CREATED, headers={"Cache-Control": "no-store"})


class FollowUpApi(APIView):
    """A raiser's request, opened by their receipt code (one 404 for a wrong code and a malformed one,
    and the look-ups throttled globally, never by address): the body checked by ``input_class``
    (which carries the receipt), then ``service`` with the concern and the checked fields, if the
    request does something; the answer is the raiser's view of their concern as it is now."""

    permission_classes = [permissions.AllowAny]
    authentication_classes: list[type] = []
    input_class: type[s.ReceiptInput] = s.ReceiptInput
    service: Callable[..., Any] | None = None
    status_code: int = status.HTTP_200_OK

    def post(self, request: Request) -> Response:
        checked = self.input_class(data=request.data)
        checked.is_valid(raise_exception=True)
        fields = dict(checked.validated_data)
        concern = services.concern_for_receipt(code=fields.pop("receipt"))
        if concern is None:
            raise Http404
        if self.service is not None:
            type(self).service(concern_id=concern.pk, **fields)  # type: ignore[misc]
            concern = selectors.concern_by_id(concern_id=concern.pk) or concern  # as the service left it
        return Response(
            s.RaiserStatusOutput(selectors.concern_raiser_view(concern=concern)).data, status=self.status_code
        )


@extend_schema(request=s.ReceiptInput, responses={200: s.RaiserStatusOutput})
class FollowUpStatusApi(FollowUpApi):
    """The raiser's view of their concern, opened by the receipt code."""


@extend_schema(request=s.RaiserMessageInput, responses={201: s.RaiserStatusOutput})
class FollowUpMessageApi(FollowUpApi):
    """The raiser writes: a message, more information, or a report of detriment."""

    input_class = s.RaiserMessageInput
    service = services.concern_message_from_raiser
    status_code = status.HTTP_201_CREATED


@extend_schema(request=s.ReceiptInput, responses={200: s.RaiserStatusOutput})
class FollowUpWithdrawApi(FollowUpApi):
    """The raiser withdraws their concern."""

    service = services.concern_withdraw


@extend_schema(request=s.SpeakUpAgainInput, responses={200: s.RaiserStatusOutput})
class FollowUpSpeakUpAgainApi(FollowUpApi):
    """'Given your experience, would you speak up again?'"""

    input_class = s.SpeakUpAgainInput
    service = services.concern_answer_speak_up_again


@extend_schema(request=s.RaiserEscalateInput, responses={200: s.RaiserStatusOutput})
class FollowUpEscalateApi(FollowUpApi):
    """The raiser sends the concern up the route once the feedback deadline has passed, or once
    feedback is given and they judge it inadequate (`reason` required then: the receiving body reads
    it in the escalation packet, never who they are)."""

    input_class = s.RaiserEscalateInput
    service = services.concern_escalate_by_raiser


@extend_schema(request=s.RaiserReopenInput, responses={200: s.RaiserStatusOutput})
class FollowUpReopenApi(FollowUpApi):
    """The raiser reopens their concern once feedback is given (`reason`: what is still wrong,
    optional); once only: a second time answers 409."""

    input_class = s.RaiserReopenInput
    service = services.concern_reopen_by_raiser


class ConcernFilter(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(choices=[(x.value, x.value) for x in State])
    urgent = django_filters.BooleanFilter()
    theme = django_filters.ChoiceFilter(choices=THEME_CHOICES, method="filter_theme")
    unit = django_filters.CharFilter(field_name="unit__code")
    due_soon = django_filters.BooleanFilter(method="filter_due_soon", label="Only concerns with a deadline due soon")
    # The inbox page's filters under the same names (backend.concerns.inbox_query), done by the same selectors.
    overdue = django_filters.BooleanFilter(
        method="filter_flag", label="Only concerns with a deadline passed unanswered"
    )
    escalated_to_us = django_filters.BooleanFilter(method="filter_flag", label="Only concerns escalated to the holder")
    with_alerts = django_filters.BooleanFilter(method="filter_flag", label="Only concerns with an open alert")
    sort = django_filters.ChoiceFilter(choices=choices(InboxSort), method="filter_sort", label="Order")

    class Meta:
        model = Concern
        fields = ["state", "urgent", "unit"]

    def filter_theme(self, queryset: Any, name: str, value: str) -> Any:
        return queryset.filter(themes__any_of=[value])

    def filter_due_soon(self, queryset: Any, name: str, value: bool) -> Any:
        due = selectors.concerns_due_soon(concerns=queryset)
        return due if value else queryset.exclude(pk__in=due.values("pk"))

    def filter_flag(self, queryset: Any, name: str, value: bool) -> Any:
        return selectors.concerns_flagged(concerns=queryset, flag=InboxFilter(name), value=value)

    def filter_sort(self, queryset: Any, name: str, value: str) -> Any:
        return selectors.concerns_sorted(concerns=queryset, sort=InboxSort(value))


class ConcernListApi(generics.ListAPIView):
    """Concerns held in the caller's subtree (guardians and handlers)."""

    permission_classes = [permissions.IsAuthenticated]
    serializer_class = s.ConcernSummaryOutput
    filterset_class = ConcernFilter
    selector: Callable[..., Any] = staticmethod(selectors.concern_inbox)

    def get_queryset(self) -> Any:
        return self.selector(user=self.request.user)


class ConcernByReferenceApi(APIView):
    """One concern by its reference, as ``selector`` shows it to the caller: 404 for a concern the
    caller may not see, never its contents."""

    permission_classes = [permissions.IsAuthenticated]
    selector: Callable[..., Any]
    output_class: type[serializers.Serializer[Any]]

    def output(self, found: Any) -> serializers.Serializer[Any]:
        return self.output_class(found)

    def get(self, request: Request, reference: str) -> Response:
        found = self.selector(user=request.user, reference=reference)
        if found is None:
            raise Http404
        return Response(self.output(found).data)


@extend_schema(
    responses={
        200: PolymorphicProxySerializer(
            component_name="ConcernView",
            serializers={"case": s.ConcernDetailOutput, "packet": s.ConcernPacketOutput},
            resource_type_field_name="view",
        )
    }
)
class ConcernDetailApi(ConcernByReferenceApi):
    """The concern as the one case selector shows it to the caller (guardians and handlers): the whole
    case with its messages (`"view": "case"`) at the concern's origin; the escalation packet
    (`"view": "packet"`: what happened, when, what was done, no messages and no identity) for a body
    further up its route."""

    selector = staticmethod(selectors.concern_case)

    def output(self, found: selectors.CaseView) -> serializers.Serializer[Any]:
        return s.ConcernPacketOutput(found) if found.packet else s.ConcernDetailOutput(found)


def _handled(request: Request, reference: str) -> Concern:
    concern = selectors.concern_for_handler(user=request.user, reference=reference)
    if concern is None:
        raise Http404
    return concern


class StaffMoveApi(APIView):
    """A guardian's or handler's move on a concern they hold: the concern is found in the caller's
    scope (404 for anyone else, never its contents), the body checked by ``input_class``, and one
    service called with the concern, the caller and the checked fields as its keywords. The service
    decides the rest (the role for the move, the state), and its refusals map to HTTP in one place
    (backend.api.errors). A subclass names its service, its input and output, and nothing else."""

    permission_classes = [permissions.IsAuthenticated]
    service: Callable[..., Any]
    input_class: type[serializers.Serializer[Any]] | None = None
    output_class: type[serializers.Serializer[Any]] = s.ConcernSummaryOutput
    status_code: int = status.HTTP_200_OK

    def arguments(self, data: dict[str, Any]) -> dict[str, Any]:
        """The service's keywords from the checked fields: the same names, unless a move says otherwise."""
        return data

    def post(self, request: Request, reference: str) -> Response:
        concern_id = _handled(request, reference).pk
        data: dict[str, Any] = {}
        if self.input_class is not None:
            checked = self.input_class(data=request.data)
            checked.is_valid(raise_exception=True)
            data = dict(checked.validated_data)
        result = type(self).service(concern_id=concern_id, user=request.user, **self.arguments(data))
        return Response(self.output_class(result).data, status=self.status_code)


@extend_schema(request=None, responses={200: s.ConcernSummaryOutput})
class ConcernAcknowledgeApi(StaffMoveApi):
    """Acknowledge the concern: its feedback deadline counts from now."""

    service = services.concern_acknowledge


@extend_schema(request=None, responses={200: s.ConcernSummaryOutput})
class ConcernStartReviewApi(StaffMoveApi):
    """Start reviewing an acknowledged concern."""

    service = services.concern_start_review


@extend_schema(request=s.FeedbackInput, responses={200: s.ConcernSummaryOutput})
class ConcernGiveFeedbackApi(StaffMoveApi):
    """Give the raiser feedback: a message to them and the move, both or neither."""

    service = services.concern_give_feedback
    input_class = s.FeedbackInput


@extend_schema(request=s.CloseInput, responses={200: s.ConcernSummaryOutput})
class ConcernCloseApi(StaffMoveApi):
    """Close the concern with a reason (guardians); closing without feedback alerts governors."""

    service = services.concern_close
    input_class = s.CloseInput


@extend_schema(request=None, responses={200: s.ConcernSummaryOutput})
class ConcernReopenApi(StaffMoveApi):
    """Reopen a concern given feedback: its clocks start again."""

    service = services.concern_reopen


@extend_schema(request=s.StaffMessageInput, responses={201: s.MessageOutput})
class ConcernMessageApi(StaffMoveApi):
    """A guardian or handler writes to the raiser."""

    service = services.concern_message_to_raiser
    input_class = s.StaffMessageInput
    output_class = s.MessageOutput
    status_code = status.HTTP_201_CREATED


class ConcernNotesApi(StaffMoveApi):
    """Staff-only notes on a concern, apart from messages to the raiser: GET lists them, POST writes
    one (`{"note": ...}`). Only those handling the concern at its origin: a body further up the
    route is refused (403, it sees the packet only), and nothing written here reaches the raiser by
    any channel. Every note is an Event of the concern's audit chain."""

    service = services.concern_note_add
    input_class = s.StaffNoteInput
    output_class = s.StaffNoteOutput
    status_code = status.HTTP_201_CREATED

    def arguments(self, data: dict[str, Any]) -> dict[str, Any]:
        return {"text": data["note"]}

    @extend_schema(responses={200: s.StaffNoteOutput(many=True)})
    def get(self, request: Request, reference: str) -> Response:
        notes = selectors.concern_notes(user=request.user, reference=reference)
        if notes is None:
            raise Http404
        return Response(s.StaffNoteOutput(notes, many=True).data)

    @extend_schema(request=s.StaffNoteInput, responses={201: s.StaffNoteOutput})
    def post(self, request: Request, reference: str) -> Response:
        return super().post(request, reference)


class ConcernActionsApi(StaffMoveApi):
    """Actions agreed on a concern: GET lists them (in the escalation packet, titles and dates only),
    POST records one (`{"title", "owner", "due_on"}`), a guardian or handler of the concern. Its due
    date is a deadline: once it passes undone, governors get one "action overdue" alert."""

    service = services.concern_action_record
    input_class = s.ActionRecordInput
    output_class = s.ActionRecordedOutput
    status_code = status.HTTP_201_CREATED

    @extend_schema(responses={200: s.ActionOutput(many=True)})
    def get(self, request: Request, reference: str) -> Response:
        found = action_selectors.concern_actions_for(user=request.user, reference=reference, now=timezone.now())
        if found is None:
            raise Http404
        return Response(s.ActionOutput(found, many=True).data)

    @extend_schema(request=s.ActionRecordInput, responses={201: s.ActionRecordedOutput})
    def post(self, request: Request, reference: str) -> Response:
        return super().post(request, reference)


@extend_schema(request=s.ActionCompleteInput, responses={200: s.ActionDoneOutput})
class ConcernActionDoneApi(StaffMoveApi):
    """Mark an action done with the evidence (`{"action": number, "evidence": ...}`); 409 if done already."""

    service = services.concern_action_complete
    input_class = s.ActionCompleteInput
    output_class = s.ActionDoneOutput


@extend_schema(request=s.AssignInput, responses={200: s.ConcernSummaryOutput})
class ConcernAssignApi(StaffMoveApi):
    """A guardian places the concern with a handler."""

    service = services.concern_assign
    input_class = s.AssignInput

    def arguments(self, data: dict[str, Any]) -> dict[str, Any]:
        handler = get_user_model().objects.filter(username=data["handler"]).first()
        if handler is None:
            raise ValidationError({"handler": ["No such handler."]})
        return {"handler": handler}


@extend_schema(request=ReclassifyInput, responses={200: s.ConcernSummaryOutput})
class ConcernReclassifyApi(StaffMoveApi):
    """The guardian at the concern's origin corrects how the quarterly return counts it
    (`{"themes": [...], "professional_group": "..."}`, either or both; "" for no group recorded), in
    any state. One audited Event with the values before and after; the return's counts move."""

    service = services.concern_reclassify
    input_class = ReclassifyInput

    def arguments(self, data: dict[str, Any]) -> dict[str, Any]:
        themes = data.get("themes")
        return {
            "themes": sorted(themes) if themes is not None else None,
            "professional_group": data.get("professional_group"),
        }


@extend_schema(request=s.SmsPlaceInput, responses={200: s.ConcernSummaryOutput})
class ConcernSmsPlaceApi(StaffMoveApi):
    """The guardian of the organisation texted places a concern raised by text on one of its wards or
    teams and says who raised it and what it is about (`{"unit": code, "raiser_kind": ...,
    "themes": [...]}`); its clocks run again under the policy for those facts, from their original
    start. 409 for a concern not raised by text, or already placed."""

    service = services.concern_sms_place
    input_class = s.SmsPlaceInput

    def arguments(self, data: dict[str, Any]) -> dict[str, Any]:
        return {**data, "themes": sorted(data["themes"])}


class ConcernConflictsApi(APIView):
    """Conflicts of interest on a concern. POST: declare one, the caller's own (`{"reason": ...}`,
    optional), open to those who handle the concern or could be placed with it (404 for anyone
    else); or, as its guardian, name someone who must not handle it (`{"person": username,
    "resolves": "line_manager"}`: who the raiser's naming is). GET: who must not handle it and
    why, for its guardian at its origin (403 for a handler or a body further up the route).
    Candour never places the concern with anyone recorded here (assign answers 409)."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(responses={200: s.ConflictOutput(many=True)})
    def get(self, request: Request, reference: str) -> Response:
        conflicts = selectors.concern_conflicts(user=request.user, reference=reference)
        if conflicts is None:
            raise Http404
        return Response(s.ConflictOutput(conflicts, many=True).data)

    @extend_schema(request=s.ConflictDeclareInput, responses={201: s.ConflictDeclaredOutput})
    def post(self, request: Request, reference: str) -> Response:
        concern = selectors.concern_for_declaring(user=request.user, reference=reference)
        if concern is None:
            raise Http404
        checked = s.ConflictDeclareInput(data=request.data)
        checked.is_valid(raise_exception=True)
        data = checked.validated_data
        person = None
        if data["person"]:
            person = get_user_model().objects.filter(username=data["person"]).first()
            if person is None:
                raise ValidationError({"person": ["No such member of staff."]})
        conflict = services.concern_conflict_declare(
            concern_id=concern.pk,
            user=request.user,  # type: ignore[arg-type]
            person=person,
            resolves=data["resolves"],
            reason=data["reason"],
        )
        return Response(s.ConflictDeclaredOutput(conflict).data, status=status.HTTP_201_CREATED)


@extend_schema(request=None, responses={200: s.IdentityOutput})
class ConcernIdentityApi(StaffMoveApi):
    """Who raised a named or confidential concern. Guardian only for confidential; every look audited."""

    service = services.concern_identity_reveal
    output_class = s.IdentityOutput


@extend_schema(request=s.ReasonInput, responses={200: s.ConcernSummaryOutput})
class ConcernEscalateApi(StaffMoveApi):
    """A guardian escalates by hand, with a reason."""

    service = services.concern_escalate_by_guardian
    input_class = s.ReasonInput


@extend_schema(request=s.ReasonInput, responses={200: s.ConcernSummaryOutput})
class ConcernPauseApi(StaffMoveApi):
    """A guardian pauses the concern's deadlines, with a reason; audited."""

    service = services.concern_clocks_pause
    input_class = s.ReasonInput


@extend_schema(request=None, responses={200: s.ConcernSummaryOutput})
class ConcernResumeApi(StaffMoveApi):
    """A guardian resumes paused deadlines, each moved on by exactly the working time paused; audited."""

    service = services.concern_clocks_resume


class OversightConcernListApi(ConcernListApi):
    """For governors, commissioners and regulators: that concerns exist and where they stand; no narrative."""

    selector = staticmethod(selectors.concern_oversight_list)


@extend_schema(responses={200: s.PublicStatusOutput})
class PublicConcernStatusApi(ConcernByReferenceApi):
    """For patient groups: the status of a concern whose raiser shared its reference with them."""

    selector = staticmethod(selectors.concern_public_status)
    output_class = s.PublicStatusOutput


def _reason(request: Request) -> str:
    data = s.ReasonInput(data=request.data)
    data.is_valid(raise_exception=True)
    return str(data.validated_data["reason"])


class AlertListApi(generics.ListAPIView):
    """Open sidelining alerts on concerns the caller oversees or handles (counts, rules, references)."""

    permission_classes = [permissions.IsAuthenticated]
    serializer_class = s.AlertOutput

    def get_queryset(self) -> Any:
        return alert_selectors.alerts_visible(user=self.request.user)


class AlertResolveApi(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(request=s.ReasonInput, responses={200: s.AlertOutput})
    def post(self, request: Request, alert_id: int) -> Response:
        if not alert_selectors.alerts_visible(user=request.user, open_only=False).filter(pk=alert_id).exists():
            raise Http404
        alert = oversight_services.alert_resolve(
            alert_id=alert_id,
            user=request.user,  # type: ignore[arg-type]
            reason=_reason(request),
        )
        return Response(s.AlertOutput(alert).data)


class SignalListApi(generics.ListAPIView):
    """Early warnings on the units the caller watches (guardians, governors, commissioners)."""

    permission_classes = [permissions.IsAuthenticated]
    serializer_class = s.SignalOutput

    def get_queryset(self) -> Any:
        return signals.signals_watched(user=self.request.user)


class SignalReviewApi(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(request=None, responses={200: s.SignalOutput})
    def post(self, request: Request, signal_id: int) -> Response:
        signal = signals.signal_review(signal_id=signal_id, user=request.user)  # type: ignore[arg-type]
        return Response(s.SignalOutput(signal).data)


class SignalCloseApi(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(request=s.ReasonInput, responses={200: s.SignalOutput})
    def post(self, request: Request, signal_id: int) -> Response:
        signal = signals.signal_close(signal_id=signal_id, user=request.user, reason=_reason(request))  # type: ignore[arg-type]
        return Response(s.SignalOutput(signal).data)
