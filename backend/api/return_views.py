"""The quarterly speaking-up data return over the API: JSON, or the CSV as it is submitted or
published (``format=csv``), streamed. A guardian gets their own organisation's; a commissioner their
integrated care board's (rolled up) and each provider's it commissions; anyone else 404."""

from __future__ import annotations

import csv
import io
from typing import Any

from django.http import Http404, StreamingHttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, renderers, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.oversight import returns
from backend.oversight.return_inputs import QuarterlyReturnQuery


class CsvRenderer(renderers.BaseRenderer):
    """Lets DRF accept ``format=csv``; the view answers it with a streamed response of its own."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        """Only reached for a refusal (400, 404): its words as rows of field and message."""
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(("field", "message"))
        for field, messages in (data or {}).items():
            for message in messages if isinstance(messages, list) else [messages]:
                writer.writerow((field, str(message)))
        return out.getvalue().encode()


class ReturnFigureOutput(serializers.Serializer):
    value = serializers.FloatField(allow_null=True)
    display = serializers.CharField()
    withheld = serializers.BooleanField()


class ReturnLineOutput(serializers.Serializer):
    measure = serializers.CharField()
    key = serializers.CharField(help_text="A theme, professional group or answer from its vocabulary; '' for none")
    label = serializers.CharField()  # type: ignore[assignment]  # the field, not Field.label
    count = ReturnFigureOutput()
    share = ReturnFigureOutput(help_text="Of the cases; for 'would speak up again', of those who answered")


class QuarterlyReturnOutput(serializers.Serializer):
    organisation = serializers.CharField(source="organisation_code")
    organisation_name = serializers.CharField()
    quarter = serializers.CharField(source="quarter_name")
    quarter_starts = serializers.DateField(source="quarter")
    quarter_label = serializers.CharField()
    complete = serializers.BooleanField()
    published = serializers.BooleanField()
    providers = serializers.ListField(child=serializers.ListField(child=serializers.CharField()))
    lines = ReturnLineOutput(many=True)
    as_of = serializers.DateTimeField(allow_null=True)


def _line(line: returns.ReturnLine) -> dict[str, Any]:
    return {
        "measure": line.measure,
        "key": line.key,
        "label": line.label,
        "count": line.count._asdict(),
        "share": line.share._asdict(),
    }


def csv_download(rows: Any, *, code: str, quarter_name: str, published: bool) -> StreamingHttpResponse:
    """A streamed CSV attachment, named for what it is."""
    kind = "published" if published else "submitted"
    response = StreamingHttpResponse(rows, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="return-{code}-{quarter_name}-{kind}.csv"'
    response["Cache-Control"] = "private, no-store"
    return response


class QuarterlyReturnApi(APIView):
    """The quarterly return of one organisation (`organisation=CODE&quarter=2026Q3`); `published=true`
    suppresses small numbers; `format=csv` streams it as CSV (an integrated care board's lists each
    provider after the roll-up)."""

    permission_classes = [permissions.IsAuthenticated]
    renderer_classes = [renderers.JSONRenderer, renderers.BrowsableAPIRenderer, CsvRenderer]

    def handle_exception(self, exc: Exception) -> Response:
        # An error is JSON whatever format was asked for (the documented error shape): a CSV of one
        # error message helps nobody.
        response = super().handle_exception(exc)
        self.request.accepted_renderer = renderers.JSONRenderer()
        self.request.accepted_media_type = "application/json"
        return response

    @extend_schema(
        parameters=[
            OpenApiParameter("organisation", str, description="Organisation code, e.g. RNX", required=True),
            OpenApiParameter("quarter", str, description="e.g. 2026Q3 (July to September 2026)", required=True),
            OpenApiParameter("published", bool, description="Suppress small numbers (default false)"),
            OpenApiParameter("format", str, enum=["json", "csv"], description="csv: a streamed download"),
        ],
        responses={200: QuarterlyReturnOutput},
    )
    def get(self, request: Request) -> Response | StreamingHttpResponse:
        if not returns.return_organisations(user=request.user):
            raise Http404  # nothing for anyone who produces no return, not even what the query lacks
        form = QuarterlyReturnQuery(data=request.query_params)
        form.is_valid(raise_exception=True)
        query = form.query()
        if request.query_params.get("format") == "csv":
            rows = returns.quarterly_return_csv_for(user=request.user, **query)
            if rows is None:
                raise Http404
            name = returns.quarter_name(query["quarter"])
            return csv_download(rows, code=query["code"], quarter_name=name, published=query["published"])
        found = returns.quarterly_return_for(user=request.user, **query)
        if found is None:
            raise Http404
        body = {
            "organisation": found.organisation_code,
            "organisation_name": found.organisation_name,
            "quarter": found.quarter_name,
            "quarter_starts": found.quarter.isoformat(),
            "quarter_label": found.quarter_label,
            "complete": found.complete,
            "published": found.published,
            "providers": [list(p) for p in found.providers],
            "lines": [_line(line) for line in found.lines],
            "as_of": serializers.DateTimeField().to_representation(found.as_of) if found.as_of else None,
        }
        return Response(body)
