"""Oversight figures over the API: the governors' dashboard, and public figures for patient groups.

The public views need no sign-in and read no session or token: they show counts per organisation
and quarter, small numbers suppressed, and nothing that identifies a raiser or a member of staff.
"""

from __future__ import annotations

from typing import Any

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, serializers
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.oversight import selectors

# The figures change when the rollup runs (every 30 s): a shared cache may hold them that long.
PUBLIC_CACHE = "public, max-age=30"


class FigureOutput(serializers.Serializer):
    value = serializers.FloatField(allow_null=True, help_text="None when withheld or not applicable")
    display = serializers.CharField(help_text='What to show: "12", "fewer than 5", "83%", "withheld"...')
    withheld = serializers.BooleanField(help_text="Suppressed because a count behind it is from 1 to 4")


class QuarterFiguresOutput(serializers.Serializer):
    organisation = serializers.CharField(source="organisation_code")
    organisation_name = serializers.CharField()
    quarter = serializers.DateField(help_text="First day of the quarter the concerns were received in")
    quarter_label = serializers.CharField()
    complete = serializers.BooleanField(help_text="False while the quarter is still running")
    concerns_received = FigureOutput()
    acknowledged_in_time = FigureOutput()
    median_days_to_acknowledge = FigureOutput()
    feedback_in_time = FigureOutput()
    escalated = FigureOutput()
    closed_without_feedback = FigureOutput()


class PublicQuarterOutput(serializers.Serializer):
    quarter = serializers.DateField(allow_null=True)
    quarter_label = serializers.CharField()
    complete = serializers.BooleanField()
    quarters = serializers.ListField(child=serializers.DateField(), help_text="Quarters with figures, newest first")
    organisations = QuarterFiguresOutput(many=True)
    as_of = serializers.DateTimeField(allow_null=True, help_text="When the figures were last brought up to date")


class PublicOrganisationOutput(serializers.Serializer):
    organisation = serializers.CharField(source="code")
    organisation_name = serializers.CharField(source="name")
    quarters = QuarterFiguresOutput(many=True)
    as_of = serializers.DateTimeField(allow_null=True)


class DashboardRowOutput(serializers.Serializer):
    organisation = serializers.CharField(source="organisation_code")
    organisation_name = serializers.CharField()
    open_escalations = serializers.IntegerField()
    overdue_clocks = serializers.IntegerField()
    open_alerts = serializers.IntegerField()


class DashboardOutput(serializers.Serializer):
    rows = DashboardRowOutput(many=True)
    open_escalations = serializers.IntegerField()
    overdue_clocks = serializers.IntegerField()
    open_alerts = serializers.IntegerField()
    as_of = serializers.DateTimeField(allow_null=True)
    notices_not_sent = serializers.IntegerField()


FIGURES = (
    "concerns_received",
    "acknowledged_in_time",
    "median_days_to_acknowledge",
    "feedback_in_time",
    "escalated",
    "closed_without_feedback",
)
_AS_OF = serializers.DateTimeField()


def _quarter_json(row: selectors.QuarterFigures) -> dict[str, Any]:
    """QuarterFiguresOutput, built directly: DRF's nested serializers take about 50 ms for 500 rows of
    six figures each; this takes a few. A test holds the two to the same output."""
    body: dict[str, Any] = {
        "organisation": row.organisation_code,
        "organisation_name": row.organisation_name,
        "quarter": row.quarter.isoformat(),
        "quarter_label": row.quarter_label,
        "complete": row.complete,
    }
    for name in FIGURES:
        figure: selectors.Figure = getattr(row, name)
        body[name] = {"value": figure.value, "display": figure.display, "withheld": figure.withheld}
    return body


def public_quarter_json(figures: selectors.PublicQuarter) -> dict[str, Any]:
    """PublicQuarterOutput, built directly (see _quarter_json)."""
    return {
        "quarter": figures.quarter.isoformat() if figures.quarter else None,
        "quarter_label": figures.quarter_label,
        "complete": figures.complete,
        "quarters": [q.isoformat() for q in figures.quarters],
        "organisations": [_quarter_json(row) for row in figures.organisations],
        "as_of": _AS_OF.to_representation(figures.as_of) if figures.as_of else None,
    }


def public_organisation_json(figures: selectors.PublicOrganisation) -> dict[str, Any]:
    """PublicOrganisationOutput, built directly (see _quarter_json)."""
    return {
        "organisation": figures.code,
        "organisation_name": figures.name,
        "quarters": [_quarter_json(row) for row in figures.quarters],
        "as_of": _AS_OF.to_representation(figures.as_of) if figures.as_of else None,
    }


class PublicFiguresQuarterApi(APIView):
    """Every organisation's public figures for one quarter (the latest if none is asked for)."""

    permission_classes = [permissions.AllowAny]
    authentication_classes: list[type] = []

    @extend_schema(
        operation_id="v1_public_figures_quarter",
        parameters=[
            OpenApiParameter("quarter", str, description="First day of the quarter, e.g. 2026-04-01", required=False)
        ],
        responses={200: PublicQuarterOutput},
    )
    def get(self, request: Request) -> Response:
        quarter = None
        if "quarter" in request.query_params:
            quarter = selectors.quarter_parse(request.query_params["quarter"])
            if quarter is None:
                raise ValidationError({"quarter": ["Give the first day of a quarter, like 2026-04-01."]})
        figures = selectors.public_figures_by_quarter(quarter=quarter)
        return Response(public_quarter_json(figures), headers={"Cache-Control": PUBLIC_CACHE})


class PublicFiguresOrganisationApi(APIView):
    """One organisation's public figures, quarter by quarter."""

    permission_classes = [permissions.AllowAny]
    authentication_classes: list[type] = []

    @extend_schema(responses={200: PublicOrganisationOutput})
    def get(self, request: Request, code: str) -> Response:
        figures = selectors.public_figures_for_organisation(code=code)
        if figures is None:
            raise Http404
        return Response(public_organisation_json(figures), headers={"Cache-Control": PUBLIC_CACHE})


class OversightDashboardApi(APIView):
    """For governors, commissioners and regulators: open escalations, overdue clocks and open alerts by
    the organisation holding the concerns, within what they oversee. Counts only."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(responses={200: DashboardOutput})
    def get(self, request: Request) -> Response:
        return Response(DashboardOutput(selectors.oversight_dashboard(user=request.user)).data)
