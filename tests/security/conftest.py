from __future__ import annotations

import pytest
from django.test import Client

from tests.support.sign_in import staff_client


@pytest.fixture
def admin_client_(demo: None) -> Client:
    """The demo's administrator, signed in to the admin (password and second factor, as anyone)."""
    return staff_client("admin")
