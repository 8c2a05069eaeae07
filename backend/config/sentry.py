"""Sentry, only when a DSN is set, and never with anything that identifies a raiser.

``send_default_pii=False`` keeps the SDK from sending addresses, cookies and users; ``before_send``
then removes what it would still send: request bodies (concern text), headers, query strings,
local variables and the free text of exception messages that databases fill with row values.
"""

from __future__ import annotations

import re
from typing import Any

import sentry_sdk

_KEEP_HEADERS = {"content-type", "content-length", "host"}
# Database errors quote the offending row ("DETAIL: Key (x)=(...)"); keep the first line only.
_DETAIL = re.compile(r"\n.*", re.DOTALL)
_SCRUBBED = "[scrubbed]"


def _scrub_request(request: dict[str, Any]) -> None:
    for key in ("data", "cookies", "query_string", "env"):
        if key in request:
            request[key] = _SCRUBBED
    headers = request.get("headers")
    if isinstance(headers, dict):
        request["headers"] = {k: v for k, v in headers.items() if k.lower() in _KEEP_HEADERS}


def _scrub_exception(exception: dict[str, Any]) -> None:
    for value in exception.get("values") or []:
        if isinstance(value.get("value"), str):
            value["value"] = _DETAIL.sub("", value["value"])[:200]
        for frame in (value.get("stacktrace") or {}).get("frames") or []:
            frame.pop("vars", None)


def scrub_event(event: dict[str, Any], hint: dict[str, Any] | None = None) -> dict[str, Any]:
    """Remove everything that could carry concern text or a raiser's identity."""
    event.pop("user", None)
    event.pop("server_name", None)
    if isinstance(event.get("request"), dict):
        _scrub_request(event["request"])
    if isinstance(event.get("exception"), dict):
        _scrub_exception(event["exception"])
    for crumb in (event.get("breadcrumbs") or {}).get("values") or []:
        crumb.pop("data", None)
        if crumb.get("category") not in {"query"}:
            crumb.pop("message", None)
    extra = event.get("extra")
    if isinstance(extra, dict):
        event["extra"] = {k: v for k, v in extra.items() if k in {"concern_id", "delivery_id", "clock_id"}}
    return event


def sentry_init(*, dsn: str, environment: str, transport: Any = None) -> None:
    if not dsn and transport is None:
        return
    sentry_sdk.init(
        dsn=dsn or None,
        environment=environment,
        send_default_pii=False,
        include_local_variables=False,
        max_request_body_size="never",
        before_send=scrub_event,  # type: ignore[arg-type]
        before_send_transaction=scrub_event,  # type: ignore[arg-type]
        traces_sample_rate=0.0,
        transport=transport,
    )
