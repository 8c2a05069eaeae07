"""The API's session authentication: the pages' rule for the second factor, for calls from a page.

Integrations authenticate with a token (TokenAuthentication), unchanged: a token is issued to a user
by an administrator and is not a sign-in, so it owes no second factor. A session owes one where its
user does (backend.organisations.second_factor): until it has passed it, the API takes the session
for no one, as the pages do.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.authentication import SessionScheme
from rest_framework.authentication import SessionAuthentication
from rest_framework.request import Request

from backend.organisations.second_factor import second_factor_owed


class SecondFactorSessionAuthentication(SessionAuthentication):
    def authenticate(self, request: Request) -> tuple[Any, None] | None:
        signed_in = super().authenticate(request)
        if signed_in is None or second_factor_owed(signed_in[0]):
            return None
        return signed_in


class SecondFactorSessionScheme(SessionScheme):
    """In the OpenAPI schema, the same session cookie as DRF's own session authentication."""

    target_class = "backend.api.authentication.SecondFactorSessionAuthentication"
