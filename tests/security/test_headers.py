"""Headers and what the request leaves behind at the door (trust item 13)."""

from __future__ import annotations

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory

from backend.config.middleware import ForgetClientAddressMiddleware

pytestmark = pytest.mark.django_db

PAGES = ["/", "/raise/", "/follow-up/", "/figures/", "/sign-in/"]


@pytest.mark.parametrize("path", PAGES)
def test_every_page_forbids_inline_code_plugins_and_framing(path: str, demo: None) -> None:
    response = Client().get(path)
    assert response.status_code == 200
    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "object-src 'none'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy
    assert "camera=()" in response["Permissions-Policy"]
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response["Cross-Origin-Resource-Policy"] == "same-origin"


@pytest.mark.parametrize("path", ["/raise/", "/follow-up/"])
def test_raiser_pages_are_never_stored(path: str, demo: None) -> None:
    assert "no-store" in Client().get(path)["Cache-Control"]


def test_only_the_api_docs_allow_inline_styles_and_never_inline_script(demo: None) -> None:
    response = Client().get("/api/docs/")
    assert response.status_code == 200
    policy = response["Content-Security-Policy"]
    assert "style-src 'self' 'unsafe-inline'" in policy
    assert "script-src" not in policy or "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    assert "<script>" not in response.content.decode()  # Swagger UI's start-up comes from a file


def test_the_door_drops_every_trace_of_the_client() -> None:
    seen: dict[str, object] = {}

    def view(request: HttpRequest) -> HttpResponse:
        seen.update(request.META)
        return HttpResponse()

    request = RequestFactory().get(
        "/",
        REMOTE_ADDR="203.0.113.9",
        REMOTE_PORT="51515",
        HTTP_USER_AGENT="CANARY-AGENT",
        HTTP_X_CLIENT_IP="203.0.113.9",
        HTTP_X_FORWARDED_FOR="203.0.113.9",
        HTTP_SEC_CH_UA='"Canary";v="1"',
        HTTP_SEC_CH_UA_PLATFORM='"CanaryOS"',
        HTTP_SEC_CH_UA_MOBILE="?1",
    )
    request.META["gunicorn.socket"] = object()
    ForgetClientAddressMiddleware(view)(request)

    assert seen["REMOTE_ADDR"] == "0.0.0.0"
    assert "203.0.113.9" not in repr(seen)
    assert not [key for key in seen if key.startswith("HTTP_SEC_CH_UA")]
    for key in ("REMOTE_PORT", "HTTP_USER_AGENT", "HTTP_X_CLIENT_IP", "gunicorn.socket"):
        assert key not in seen
