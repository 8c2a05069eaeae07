"""One error shape for the API: {"detail": ...} or {field: [messages]}, never a 500 for bad input."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.defaults import page_not_found
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.response import Response
from rest_framework.views import exception_handler

from backend.concerns.services import DuplicateSubmission, TooManyAttempts
from workflows.engine.lifecycle import IllegalTransition


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The concern is not in a state that allows this."
    default_code = "conflict"


class TooMany(APIException):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_detail = "Too many look-ups right now. Try again in a minute."
    default_code = "throttled"


class TooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request is too large."
    default_code = "too_large"


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DuplicateSubmission):
        return Response({"detail": str(exc), "reference": exc.reference}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, IllegalTransition):
        exc = Conflict(str(exc))
    elif isinstance(exc, TooManyAttempts):
        exc = TooMany()
    elif isinstance(exc, RequestDataTooBig):
        exc = TooLarge()
    return exception_handler(exc, context)


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """The API speaks JSON even where no route matches; pages keep Django's page."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=404)
    return page_not_found(request, exception)
