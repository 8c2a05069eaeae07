"""Candour never needs to know where a request came from, so it forgets at the door.

An anonymous raiser's address or browser must not reach the database, the logs, Celery or Sentry.
Rather than remember to leave them out everywhere, every request has them removed before any view,
log call or error reporter can read them. Rate limits therefore never key on addresses either.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

FORGOTTEN_META = (
    "REMOTE_ADDR",
    "REMOTE_HOST",
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_REAL_IP",
    "HTTP_FORWARDED",
    "HTTP_USER_AGENT",
    "HTTP_CF_CONNECTING_IP",
    "HTTP_TRUE_CLIENT_IP",
    "HTTP_VIA",
)


class ForgetClientAddressMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        for key in FORGOTTEN_META:
            request.META.pop(key, None)
        # Django and its tools expect an address to exist; give them one that says nothing.
        request.META["REMOTE_ADDR"] = "0.0.0.0"  # noqa: S104 - an address, not a bind
        return self.get_response(request)
