from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client


@pytest.fixture
def admin_client_(demo: None) -> Client:
    """The demo's administrator, signed in to the admin."""
    client = Client()
    client.force_login(get_user_model().objects.get(username="admin"))
    return client
