"""A request id for every request and every log line it causes.

The id ties together the log lines of one request (and the response, which carries it back in
X-Request-ID, so an operator can find a user's complaint in the logs). A proxy's own id (nginx's
$request_id, a load balancer's UUID) is kept when it offers one in X-Request-ID; anything else is
replaced by a fresh random id. Only hex digits and dashes are taken: a header a client chose could
otherwise carry a name, a number or any words into every log line.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from contextvars import ContextVar

from django.http import HttpRequest, HttpResponse

# 16 to 64 hex digits and dashes: a UUID, nginx's 32 hex digits, a trace id. Not a phone number
# (too short), not words.
SAFE_REQUEST_ID = re.compile(r"[0-9A-Fa-f][0-9A-Fa-f-]{15,63}")
HEADER = "X-Request-ID"

_request_id: ContextVar[str] = ContextVar("candour_request_id", default="")


def request_id_current() -> str:
    """This request's id, or "" outside a request (a worker, a command)."""
    return _request_id.get()


def request_id_for(offered: str) -> str:
    return offered if SAFE_REQUEST_ID.fullmatch(offered) else uuid.uuid4().hex


class RequestIdMiddleware:
    """Early in the chain: every later middleware, the view and Django's own error logging run with
    the id set."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request_id_for(request.headers.get(HEADER, ""))
        token = _request_id.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            _request_id.reset(token)
        response[HEADER] = request_id
        return response


class RequestIdFilter(logging.Filter):
    """Gives every record a ``request_id`` ("-" outside a request), for the formatters to print."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _request_id.get() or "-"
        return True
