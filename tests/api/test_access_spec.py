"""Every route declares who may use it (GlobaLeaks-style access spec); open routes are an explicit list."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.views import APIView

# Routes anyone may call, on purpose. Anything else open is a defect.
OPEN_ROUTES = {
    "healthz",
    "readyz",
    # Reached by anyone, answered only for the monitoring system's bearer token (403 otherwise).
    "metrics",
    "",  # home
    # Raising a concern a question a page: the start, each question, check your answers, stop.
    "raise/",
    "raise/start/",
    "raise/easy-read/",
    "raise/check/",
    "raise/cancel/",
    "raise/<slug:slug>/",
    "follow-up/",
    "follow-up/concern/",
    "follow-up/concern/message/",
    "follow-up/concern/withdraw/",
    "follow-up/concern/escalate/",
    "follow-up/concern/speak-up-again/",
    "follow-up/concern/share/",
    # A concern whose raiser let others follow its status, by its reference (status only).
    "follow/",
    "follow-up/concern/reopen/",
    # After closure, with the receipt: a check-in's answers, detriment reported, consent to be asked.
    "follow-up/concern/check-in/",
    "follow-up/concern/detriment/",
    "follow-up/concern/aftercare-consent/",
    # The raiser reads their concern's public summary first and may object ("you said, we did").
    "follow-up/concern/summary/",
    "sign-in/",
    "sign-out/",
    "api/v1/concerns/raise/",
    "api/v1/follow-up/",
    "api/v1/follow-up/messages/",
    "api/v1/follow-up/withdraw/",
    "api/v1/follow-up/speak-up-again/",
    "api/v1/follow-up/escalate/",
    "api/v1/follow-up/reopen/",
    # Public figures for patient groups: counts per organisation and quarter, small numbers suppressed.
    "figures/",
    "figures/<str:code>/",
    "api/v1/public/figures/",
    "api/v1/public/figures/<str:code>/",
    "api/schema/",
    "api/docs/",
    # Proof of disclosure: anyone checks a certificate or downloads one Candour signed; the public keys.
    "disclosure/verify/",
    "disclosure/certificate/",
    ".well-known/candour-disclosure-keys.json",
    # Twilio's webhooks: open to the internet, guarded by Twilio's request signature instead.
    "twilio/sms/",
    "twilio/status/",
}
# Django's admin guards itself (staff sign-in and model permissions).
DELEGATED_PREFIXES = ("admin/",)


def _walk(patterns: list[Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for p in patterns:
        if isinstance(p, URLResolver):
            yield from _walk(p.url_patterns, prefix + str(p.pattern))
        elif isinstance(p, URLPattern):
            yield prefix + str(p.pattern), p.callback


def _declared(callback: Any) -> str | None:
    cls = getattr(callback, "cls", None)
    if cls is not None and issubclass(cls, APIView):
        # Declared on the class itself, not inherited from a default that may change.
        declared = [k for k in cls.__mro__ if "permission_classes" in k.__dict__ and k.__module__.startswith("backend")]
        if not declared and cls.__module__.startswith("drf_spectacular"):
            return "public"
        if not declared:
            return None
        perms = cls.permission_classes
        return "public" if perms == [AllowAny] else "staff" if IsAuthenticated in perms else None
    view_class = getattr(callback, "view_class", None)
    if view_class is not None and view_class.__module__.startswith("django.contrib.auth"):
        return "public"  # sign-in and sign-out
    return getattr(callback, "candour_access", None)


ROUTES = [(route, cb) for route, cb in _walk(get_resolver().url_patterns) if not route.startswith(DELEGATED_PREFIXES)]


@pytest.mark.parametrize(("route", "callback"), ROUTES, ids=[r for r, _ in ROUTES])
def test_every_route_declares_its_access(route: str, callback: Any) -> None:
    declared = _declared(callback)
    assert declared is not None, f"{route} declares no access"
    if declared == "public":
        assert route in OPEN_ROUTES, f"{route} is open to anyone but not in OPEN_ROUTES"
    else:
        assert route not in OPEN_ROUTES, f"{route} is listed as open but requires sign-in"


def test_the_open_list_names_only_real_routes() -> None:
    assert {route for route, _ in ROUTES} >= OPEN_ROUTES
