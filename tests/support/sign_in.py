"""Signing staff in for tests: the one place that knows how a member of staff gets a session.

Every test that needs a signed-in member of staff on the pages goes through ``staff_client`` (or
``sign_in`` for a client it already has), which signs in the way production does: the password on
/sign-in/ (django-axes counting), then, where the user owes a second factor
(backend/organisations/second_factor.py), a one-time backup code on /sign-in/code/. The code is one
made for the occasion on the user's backup-code device (created if the user has none), so a test
never depends on which codes the demo printed. ``client.login`` and ``force_login`` would leave the
second factor unpassed, and staff pages, the API by session and the admin refuse such a session.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.test import Client
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from rest_framework.authtoken.models import Token

from backend.organisations.demo import DEMO_PASSWORD
from backend.organisations.second_factor import BACKUP_DEVICE_NAME, second_factor_devices, second_factor_required


def backup_code_for(user: User) -> str:
    """A fresh one-time backup code for ``user``, on their backup-code device (made if missing)."""
    device = StaticDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()
    if device is None:
        device = StaticDevice.objects.create(user=user, name=BACKUP_DEVICE_NAME, confirmed=True)
    token = StaticToken.random_token()
    StaticToken.objects.create(device=device, token=token)
    return token


def sign_in(client: Client, username: str, *, password: str = DEMO_PASSWORD, next_url: str = "") -> Client:
    """Sign ``client`` in as ``username`` through the pages, second factor and all. Returns the client."""
    user = get_user_model().objects.get(username=username)
    code = backup_code_for(user) if second_factor_required(user) or second_factor_devices(user) else None
    data = {"username": username, "password": password} | ({"next": next_url} if next_url else {})
    answer = client.post("/sign-in/", data)
    assert answer.status_code == 302, f"sign-in as {username}: {answer.status_code} {answer.content[:500]!r}"
    if code is None:
        assert not answer["Location"].startswith("/sign-in/"), answer["Location"]
        return client
    assert answer["Location"].startswith("/sign-in/code/"), answer["Location"]
    passed = client.post(answer["Location"], {"code": code})
    assert passed.status_code == 302, f"second factor as {username}: {passed.status_code} {passed.content[:500]!r}"
    assert not passed["Location"].startswith("/sign-in/"), passed["Location"]
    return client


def staff_client(username: str, **defaults: Any) -> Client:
    """A client with a signed-in session for ``username`` (for pages, and the API by session)."""
    return sign_in(Client(**defaults), username)


def api_client(username: str, **defaults: Any) -> Client:
    """A client that calls the API with ``username``'s token, as an integration would."""
    user = get_user_model().objects.get(username=username)
    token = Token.objects.get_or_create(user=user)[0]
    return Client(HTTP_AUTHORIZATION=f"Token {token.key}", **defaults)
