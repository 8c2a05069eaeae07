"""One error shape for the API: {"detail": ...} or {field: [messages]}, never a 500 for bad input."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.defaults import page_not_found
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.exceptions import NotFound as NotFoundError
from rest_framework.exceptions import PermissionDenied as PermissionDeniedError
from rest_framework.response import Response
from rest_framework.views import exception_handler

from backend.concerns.services import DuplicateSubmission
from backend.errors import ApplicationError, Busy, Conflict, Forbidden, Invalid, NotFound


def _answer(status_code: int, detail: str, code: str) -> type[APIException]:
    """An API answer for a refusal: its status and the words it says when the refusal has none."""
    return type(
        f"{code.title().replace('_', '')}Answer",
        (APIException,),
        {"status_code": status_code, "default_detail": detail, "default_code": code},
    )


ConflictError = _answer(status.HTTP_409_CONFLICT, "The concern is not in a state that allows this.", "conflict")
TooMany = _answer(status.HTTP_429_TOO_MANY_REQUESTS, "Too many look-ups right now. Try again in a minute.", "throttled")
TooLarge = _answer(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, "The request is too large.", "too_large")
Unprocessable = _answer(status.HTTP_400_BAD_REQUEST, "The request cannot be done as it is.", "invalid")


# The one place an application error becomes an HTTP answer for the API (the pages have theirs).
_STATUS: dict[type[ApplicationError], type[APIException]] = {
    NotFound: NotFoundError,
    Forbidden: PermissionDeniedError,
    Conflict: ConflictError,
    Invalid: Unprocessable,
    Busy: TooMany,
}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DuplicateSubmission):
        return Response({"detail": str(exc), "reference": exc.reference}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, ApplicationError):
        answer = next(api for kind, api in _STATUS.items() if isinstance(exc, kind))
        # Busy keeps its own fixed words; the others say what the service said.
        exc = answer() if isinstance(exc, Busy) else answer(str(exc))
    elif isinstance(exc, RequestDataTooBig):
        exc = TooLarge()
    return exception_handler(exc, context)


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """The API speaks JSON even where no route matches; pages keep Django's page."""
    if _is_api(request):
        return JsonResponse({"detail": "Not found."}, status=404)
    return page_not_found(request, exception)


SERVER_ERROR = "A server error occurred."


class ServerErrorJsonMiddleware:
    """An unhandled error under /api/ answers {"detail": ...} with 500, like every other API error,
    whether DEBUG is on or off; pages keep Django's error page.

    By the time the response passes here, Django has done everything an unhandled error gets: logged
    it with its traceback (``django.request``) and sent ``got_request_exception``, where Sentry hears
    it. Only the body is replaced (the same response, so Django does not log it a second time):
    Django's error page, or under DEBUG its technical page, which handler500 never sees and which
    would show a traceback and settings to any API client.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code == 500
            and _is_api(request)
            and not response.streaming
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            response.content = json.dumps({"detail": SERVER_ERROR}).encode()
            response["Content-Type"] = "application/json"
            if response.has_header("Content-Length"):
                response["Content-Length"] = str(len(response.content))
        return response
