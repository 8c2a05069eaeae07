"""An anonymous submission leaves no address or browser anywhere: database, logs, Celery messages.

Canary values go in REMOTE_ADDR, X-Forwarded-For and User-Agent; then the whole database is dumped
with pg_dump and searched, as are the captured logs.
"""

from __future__ import annotations

import json
import logging
import subprocess

import pytest
from django.db import connection
from django.test import Client

pytestmark = pytest.mark.django_db(transaction=True)

CANARY_IP = "198.51.100.213"
CANARY_FORWARDED = "192.0.2.199"
CANARY_UA = "CanaryAgent/4.2 (canary-ua-8d1e)"


def _dump() -> str:
    s = connection.settings_dict
    result = subprocess.run(
        ["pg_dump", "--data-only", "-h", s["HOST"], "-p", str(s["PORT"]), "-U", s["USER"], s["NAME"]],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return result.stdout


def test_no_address_or_user_agent_is_kept(demo: None, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client = Client(REMOTE_ADDR=CANARY_IP, HTTP_X_FORWARDED_FOR=CANARY_FORWARDED, HTTP_USER_AGENT=CANARY_UA)
    page = client.post(
        "/raise/",
        {
            "unit": "RNX07",
            "raiser_kind": "patient",
            "identity_mode": "anonymous",
            "themes": ["other"],
            "what_happened": "page",
        },
    )
    api = client.post(
        "/api/v1/concerns/raise/",
        data=json.dumps(
            {
                "unit": "RNX07",
                "raiser_kind": "carer",
                "identity_mode": "anonymous",
                "themes": ["other"],
                "what_happened": "api",
            }
        ),
        content_type="application/json",
    )
    assert page.status_code == 200
    assert api.status_code == 201
    receipt = api.json()["receipt"]
    assert client.post("/follow-up/", {"receipt": receipt}, follow=True).status_code == 200

    dump = _dump()
    assert "concerns_concern" in dump  # the dump really holds the data
    logs = caplog.text
    for canary in (CANARY_IP, CANARY_FORWARDED, "canary-ua-8d1e", receipt, receipt.replace("-", "")):
        assert canary not in dump, canary
        assert canary not in logs, canary
