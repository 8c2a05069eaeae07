"""Signing staff in for tests: the one place that knows how a member of staff gets a session.

Every test that needs a signed-in member of staff on the pages goes through ``staff_client``, so
when staff sign-in gains a second factor only this module changes (to a session with a verified
device) and every test keeps signing in the way production does.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework.authtoken.models import Token


def staff_client(username: str, **defaults: Any) -> Client:
    """A client with a signed-in session for ``username`` (for pages, and the API by session)."""
    client = Client(**defaults)
    client.force_login(get_user_model().objects.get(username=username))
    return client


def api_client(username: str, **defaults: Any) -> Client:
    """A client that calls the API with ``username``'s token, as an integration would."""
    user = get_user_model().objects.get(username=username)
    token = Token.objects.get_or_create(user=user)[0]
    return Client(HTTP_AUTHORIZATION=f"Token {token.key}", **defaults)
