"""REST API, one view per use case. Each calls one service or selector; permissions are declared here."""

from __future__ import annotations

from typing import Any

import django_filters
from django.contrib.auth import get_user_model
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, permissions, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.api import serializers as s
from backend.concerns import selectors, services
from backend.concerns.inputs import ConcernRaiseInput
from backend.concerns.models import Concern, Theme
from backend.oversight import alert_selectors
from backend.oversight import services as oversight_services
from workflows.engine.lifecycle import State


class ConcernRaiseApi(APIView):
    """Anyone may raise a concern; an anonymous raiser leaves nothing that identifies them."""

    permission_classes = [permissions.AllowAny]
    authentication_classes: list[type] = []

    @extend_schema(request=ConcernRaiseInput, responses={201: s.RaisedOutput})
    def post(self, request: Request) -> Response:
        data = ConcernRaiseInput(data=request.data)
        data.is_valid(raise_exception=True)
        raised = services.concern_raise(**data.validated_data)
        body = s.RaisedOutput({"reference": raised.concern.reference, "receipt": raised.receipt}).data
        return Response(body, status=status.HTTP_201_CREATED, headers={"Cache-Control": "no-store"})


def _concern_for_receipt(request: Request, serializer_class: type[s.ReceiptInput]) -> tuple[Concern, dict[str, Any]]:
    data = serializer_class(data=request.data)
    data.is_valid(raise_exception=True)
    concern = services.concern_for_receipt(code=data.validated_data["receipt"])
    if concern is None:
        # One answer for wrong and malformed codes alike.
        raise Http404
    return concern, data.validated_data


class FollowUpStatusApi(APIView):
    """The raiser's view of their concern, opened by the receipt code."""

    permission_classes = [permissions.AllowAny]
    authentication_classes: list[type] = []

    @extend_schema(request=s.ReceiptInput, responses={200: s.RaiserStatusOutput})
    def post(self, request: Request) -> Response:
        concern, _ = _concern_for_receipt(request, s.ReceiptInput)
        return Response(s.RaiserStatusOutput(selectors.concern_raiser_view(concern=concern)).data)


class FollowUpMessageApi(APIView):
    """The raiser writes: a message, more information, or a report of detriment."""

    permission_classes = [permissions.AllowAny]
    authentication_classes: list[type] = []

    @extend_schema(request=s.RaiserMessageInput, responses={201: s.RaiserStatusOutput})
    def post(self, request: Request) -> Response:
        concern, data = _concern_for_receipt(request, s.RaiserMessageInput)
        services.concern_message_from_raiser(concern_id=concern.pk, body=data["body"], kind=data["kind"])
        view = selectors.concern_raiser_view(concern=Concern.objects.get(pk=concern.pk))
        return Response(s.RaiserStatusOutput(view).data, status=status.HTTP_201_CREATED)


class FollowUpWithdrawApi(APIView):
    permission_classes = [permissions.AllowAny]
    authentication_classes: list[type] = []

    @extend_schema(request=s.ReceiptInput, responses={200: s.RaiserStatusOutput})
    def post(self, request: Request) -> Response:
        concern, _ = _concern_for_receipt(request, s.ReceiptInput)
        concern = services.concern_withdraw(concern_id=concern.pk)
        return Response(s.RaiserStatusOutput(selectors.concern_raiser_view(concern=concern)).data)


class FollowUpSpeakUpAgainApi(APIView):
    """'Given your experience, would you speak up again?'"""

    permission_classes = [permissions.AllowAny]
    authentication_classes: list[type] = []

    @extend_schema(request=s.SpeakUpAgainInput, responses={200: s.RaiserStatusOutput})
    def post(self, request: Request) -> Response:
        concern, data = _concern_for_receipt(request, s.SpeakUpAgainInput)
        concern = services.concern_answer_speak_up_again(concern_id=concern.pk, answer=data["answer"])
        return Response(s.RaiserStatusOutput(selectors.concern_raiser_view(concern=concern)).data)


class ConcernFilter(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(choices=[(x.value, x.value) for x in State])
    urgent = django_filters.BooleanFilter()
    theme = django_filters.ChoiceFilter(choices=Theme.choices, method="filter_theme")
    unit = django_filters.CharFilter(field_name="unit__code")

    class Meta:
        model = Concern
        fields = ["state", "urgent", "unit"]

    def filter_theme(self, queryset: Any, name: str, value: str) -> Any:
        return queryset.filter(themes__contains=[value])


class ConcernListApi(generics.ListAPIView):
    """Concerns held in the caller's subtree (guardians and handlers)."""

    permission_classes = [permissions.IsAuthenticated]
    serializer_class = s.ConcernSummaryOutput
    filterset_class = ConcernFilter

    def get_queryset(self) -> Any:
        return selectors.concern_inbox(user=self.request.user)


class ConcernDetailApi(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(responses={200: s.ConcernDetailOutput})
    def get(self, request: Request, reference: str) -> Response:
        concern = selectors.concern_for_handler(user=request.user, reference=reference)
        if concern is None:
            raise Http404
        return Response(s.ConcernDetailOutput(concern).data)


def _handled(request: Request, reference: str) -> Concern:
    concern = selectors.concern_for_handler(user=request.user, reference=reference)
    if concern is None:
        raise Http404
    return concern


class ConcernAcknowledgeApi(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(request=None, responses={200: s.ConcernSummaryOutput})
    def post(self, request: Request, reference: str) -> Response:
        concern = services.concern_acknowledge(concern_id=_handled(request, reference).pk, user=request.user)  # type: ignore[arg-type]
        return Response(s.ConcernSummaryOutput(concern).data)


class ConcernStartReviewApi(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(request=None, responses={200: s.ConcernSummaryOutput})
    def post(self, request: Request, reference: str) -> Response:
        concern = services.concern_start_review(concern_id=_handled(request, reference).pk, user=request.user)  # type: ignore[arg-type]
        return Response(s.ConcernSummaryOutput(concern).data)


class ConcernGiveFeedbackApi(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(request=s.FeedbackInput, responses={200: s.ConcernSummaryOutput})
    def post(self, request: Request, reference: str) -> Response:
        concern_id = _handled(request, reference).pk
        data = s.FeedbackInput(data=request.data)
        data.is_valid(raise_exception=True)
        concern = services.concern_give_feedback(
            concern_id=concern_id,
            user=request.user,  # type: ignore[arg-type]
            feedback=data.validated_data["feedback"],
        )
        return Response(s.ConcernSummaryOutput(concern).data)


class ConcernCloseApi(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(request=s.CloseInput, responses={200: s.ConcernSummaryOutput})
    def post(self, request: Request, reference: str) -> Response:
        concern_id = _handled(request, reference).pk
        data = s.CloseInput(data=request.data)
        data.is_valid(raise_exception=True)
        concern = services.concern_close(
            concern_id=concern_id,
            user=request.user,  # type: ignore[arg-type]
            reason=data.validated_data["reason"],
        )
        return Response(s.ConcernSummaryOutput(concern).data)


class ConcernReopenApi(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(request=None, responses={200: s.ConcernSummaryOutput})
    def post(self, request: Request, reference: str) -> Response:
        concern = services.concern_reopen(concern_id=_handled(request, reference).pk, user=request.user)  # type: ignore[arg-type]
        return Response(s.ConcernSummaryOutput(concern).data)


class ConcernMessageApi(APIView):
    """A guardian or handler writes to the raiser."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(request=s.StaffMessageInput, responses={201: s.MessageOutput})
    def post(self, request: Request, reference: str) -> Response:
        concern_id = _handled(request, reference).pk
        data = s.StaffMessageInput(data=request.data)
        data.is_valid(raise_exception=True)
        message = services.concern_message_to_raiser(
            concern_id=concern_id,
            user=request.user,  # type: ignore[arg-type]
            body=data.validated_data["body"],
        )
        return Response(s.MessageOutput(message).data, status=status.HTTP_201_CREATED)


class ConcernAssignApi(APIView):
    """A guardian places the concern with a handler."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(request=s.AssignInput, responses={200: s.ConcernSummaryOutput})
    def post(self, request: Request, reference: str) -> Response:
        concern_id = _handled(request, reference).pk
        data = s.AssignInput(data=request.data)
        data.is_valid(raise_exception=True)
        handler = get_user_model().objects.filter(username=data.validated_data["handler"]).first()
        if handler is None:
            raise ValidationError({"handler": ["No such handler."]})
        concern = services.concern_assign(concern_id=concern_id, user=request.user, handler=handler)  # type: ignore[arg-type]
        return Response(s.ConcernSummaryOutput(concern).data)


class ConcernIdentityApi(APIView):
    """Who raised a named or confidential concern. Guardian only for confidential; every look audited."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(request=None, responses={200: s.IdentityOutput})
    def post(self, request: Request, reference: str) -> Response:
        identity = services.concern_identity_reveal(concern_id=_handled(request, reference).pk, user=request.user)  # type: ignore[arg-type]
        return Response(s.IdentityOutput(identity).data)


class OversightConcernListApi(generics.ListAPIView):
    """For governors, commissioners and regulators: that concerns exist and where they stand; no narrative."""

    permission_classes = [permissions.IsAuthenticated]
    serializer_class = s.ConcernSummaryOutput
    filterset_class = ConcernFilter

    def get_queryset(self) -> Any:
        return selectors.concern_oversight_list(user=self.request.user)


class PublicConcernStatusApi(APIView):
    """For patient groups: the status of a concern whose raiser shared its reference with them."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(responses={200: s.PublicStatusOutput})
    def get(self, request: Request, reference: str) -> Response:
        concern = selectors.concern_public_status(user=request.user, reference=reference)
        if concern is None:
            raise Http404
        return Response(s.PublicStatusOutput(concern).data)


class FollowUpEscalateApi(APIView):
    """The raiser sends the concern up the route once the feedback deadline has passed."""

    permission_classes = [permissions.AllowAny]
    authentication_classes: list[type] = []

    @extend_schema(request=s.ReceiptInput, responses={200: s.RaiserStatusOutput})
    def post(self, request: Request) -> Response:
        concern, _ = _concern_for_receipt(request, s.ReceiptInput)
        concern = services.concern_escalate_by_raiser(concern_id=concern.pk)
        return Response(s.RaiserStatusOutput(selectors.concern_raiser_view(concern=concern)).data)


def _reason(request: Request) -> str:
    data = s.ReasonInput(data=request.data)
    data.is_valid(raise_exception=True)
    return str(data.validated_data["reason"])


class ConcernEscalateApi(APIView):
    """A guardian escalates by hand, with a reason."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(request=s.ReasonInput, responses={200: s.ConcernSummaryOutput})
    def post(self, request: Request, reference: str) -> Response:
        concern_id = _handled(request, reference).pk
        concern = services.concern_escalate_by_guardian(
            concern_id=concern_id,
            user=request.user,  # type: ignore[arg-type]
            reason=_reason(request),
        )
        return Response(s.ConcernSummaryOutput(concern).data)


class ConcernPauseApi(APIView):
    """A guardian pauses the concern's deadlines, with a reason; audited."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(request=s.ReasonInput, responses={200: s.ConcernSummaryOutput})
    def post(self, request: Request, reference: str) -> Response:
        concern_id = _handled(request, reference).pk
        concern = services.concern_clocks_pause(
            concern_id=concern_id,
            user=request.user,  # type: ignore[arg-type]
            reason=_reason(request),
        )
        return Response(s.ConcernSummaryOutput(concern).data)


class ConcernResumeApi(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(request=None, responses={200: s.ConcernSummaryOutput})
    def post(self, request: Request, reference: str) -> Response:
        concern = services.concern_clocks_resume(concern_id=_handled(request, reference).pk, user=request.user)  # type: ignore[arg-type]
        return Response(s.ConcernSummaryOutput(concern).data)


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
