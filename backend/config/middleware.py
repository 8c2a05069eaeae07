"""Candour never needs to know where a request came from, so it forgets at the door.

An anonymous raiser's address or browser must not reach the database, the logs, Celery or Sentry.
Rather than remember to leave them out everywhere, every request has them removed before any view,
log call or error reporter can read them. Rate limits therefore never key on addresses either.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.templatetags.static import static

logger = logging.getLogger(__name__)

FORGOTTEN_META = (
    "REMOTE_ADDR",
    "REMOTE_HOST",
    "REMOTE_PORT",
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_REAL_IP",
    "HTTP_X_CLIENT_IP",
    "HTTP_X_CLUSTER_CLIENT_IP",
    "HTTP_FORWARDED",
    "HTTP_USER_AGENT",
    "HTTP_CF_CONNECTING_IP",
    "HTTP_TRUE_CLIENT_IP",
    "HTTP_VIA",
    # The server's own handle on the connection: its peer is the client's address.
    "gunicorn.socket",
)
# Client hints name the browser, its version, platform and device as well as a user agent does.
FORGOTTEN_PREFIXES = ("HTTP_SEC_CH_UA",)


class ForgetClientAddressMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        for key in FORGOTTEN_META:
            request.META.pop(key, None)
        for key in [k for k in request.META if k.startswith(FORGOTTEN_PREFIXES)]:
            del request.META[key]
        # Django and its tools expect an address to exist; give them one that says nothing.
        request.META["REMOTE_ADDR"] = "0.0.0.0"  # noqa: S104 - an address, not a bind
        return self.get_response(request)


class RequestSizeLimitMiddleware:
    """Refuse an oversized body with 413 before anything reads it, so nothing is half-stored.

    Django would raise RequestDataTooBig only when a form body is parsed; a JSON body read by DRF
    would not be checked at all. One limit at the door covers both.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return JsonResponse({"detail": "Content-Length is not a number."}, status=400)
        if length > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            return JsonResponse({"detail": "The request is too large."}, status=413)
        return self.get_response(request)


class SecurityHeadersMiddleware:
    """The headers Django's own security middleware does not set: no browser feature Candour does not
    use (Permissions-Policy), and nothing of Candour's embedded by another site (Cross-Origin-
    Resource-Policy). The Content-Security-Policy comes from django-csp."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Permissions-Policy", settings.CANDOUR_PERMISSIONS_POLICY)
        response.headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")
        return response


# What a request cut off from the database says: the client (the raise page, Twilio, an API caller)
# may send it again. Under /api/ in the API's one error shape.
DATABASE_UNAVAILABLE = "Candour is briefly unavailable. Please try again in a few seconds."
DATABASE_RETRY_AFTER_SECONDS = 5
_UNAVAILABLE_PAGE = (
    '<!DOCTYPE html><html lang="en-GB" class="nhsuk-template"><head><meta charset="utf-8">'
    "<title>Sorry, there is a problem with the service - Candour</title>"
    '<meta name="viewport" content="width=device-width, initial-scale=1">'
    '<link rel="stylesheet" href="{stylesheet}"></head><body>'
    '<div class="nhsuk-width-container"><main class="nhsuk-main-wrapper" id="maincontent">'
    "<h1>Sorry, there is a problem with the service</h1>"
    f'<p class="nhsuk-body">{DATABASE_UNAVAILABLE}</p></main></div></body></html>'
)


class DatabaseUnavailableMiddleware:
    """A view cut off from the database (PgBouncer or PostgreSQL restarting, a failover, a connection
    lost mid-request) answers 503 with Retry-After, not 500: it is the service that is briefly down,
    not the request that is wrong, and each use case is one transaction, so nothing was stored half.
    The raise page sends again with its submission key (a raise that did commit answers 409 with its
    reference); a text answered 5xx goes to the number's fallback URL (README, SMS with Twilio: the
    same address), and its MessageSid is stored once whichever call lands.

    Logged as an error (the view and the error's class only: a connection error's message names the
    server, never the request's data), so an outage still reaches the logs and Sentry. The answer is
    a fixed page in the NHS.UK styles: rendering Candour's templates would reach for the session, in
    the same database."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        view = request.resolver_match.view_name if request.resolver_match else "?"
        logger.error("database unavailable in %s: %s; answered 503", view, type(exception).__name__)
        if request.path.startswith("/api/"):
            response: HttpResponse = JsonResponse({"detail": DATABASE_UNAVAILABLE}, status=503)
        else:
            stylesheet = static("vendor/nhsuk/nhsuk-frontend.min.css")
            response = HttpResponse(_UNAVAILABLE_PAGE.replace("{stylesheet}", stylesheet), status=503)
        response["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
        response["Cache-Control"] = "no-store"
        return response
