from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from backend.organisations.demo import demo_seed
from backend.organisations.models import Organisation


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
