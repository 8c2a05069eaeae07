"""The concern list filtered by theme, on PostgreSQL and on the embedded default's SQLite."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from tests.support.sign_in import sign_in

pytestmark = pytest.mark.django_db

RAISE = {"unit": "RNX07", "raiser_kind": "staff", "identity_mode": "anonymous", "what_happened": "The rota."}


def test_a_guardian_lists_the_concerns_about_patient_safety(demo: None, user_named) -> None:  # type: ignore[no-untyped-def]
    client = Client()
    references = {}
    for themes in (["patient_safety", "bullying"], ["bullying"]):
        raised = client.post(
            "/api/v1/concerns/raise/", data=json.dumps({**RAISE, "themes": themes}), content_type="application/json"
        )
        assert raised.status_code == 201, raised.content
        references[themes[0]] = raised.json()["reference"]

    sign_in(client, "guardian")
    response = client.get("/api/v1/concerns/?theme=patient_safety")

    assert response.status_code == 200, response.content
    assert [c["reference"] for c in response.json()["results"]] == [references["patient_safety"]]
