from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.test import Client

from backend.organisations.demo import DEMO_PASSWORD, demo_seed
from backend.organisations.models import Organisation
from tests.support.sign_in import sign_in


@pytest.fixture
def demo(db: None) -> None:
    demo_seed()


@pytest.fixture
def ward(demo: None) -> Organisation:
    return Organisation.objects.get(code="RNX07")


@pytest.fixture
def user_named(demo: None):  # type: ignore[no-untyped-def]
    def get(username: str):  # type: ignore[no-untyped-def]
        return get_user_model().objects.get(username=username)

    return get


@pytest.fixture
def admin_client(db: None, admin_user: User) -> Client:
    """pytest-django's ``admin_client``, signed in as any administrator is: the password on /sign-in/,
    then a second factor (its own would only force a login the admin now refuses). ``admin_user`` is
    pytest-django's superuser, or the demo's administrator when the demo is seeded."""
    password = "password" if admin_user.check_password("password") else DEMO_PASSWORD
    return sign_in(Client(), admin_user.get_username(), password=password)
