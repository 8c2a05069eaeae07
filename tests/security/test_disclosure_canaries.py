"""Canaries for proof of disclosure: the certificate is made and handed over, never kept, and the public
check stores and logs nothing of the words or the certificate it is given.

A concern is raised with canary words; its certificate's digest and signature must then be nowhere in
the database (intake keeps no copy: the digest would confirm a guess of the words). Then the public
page is asked to check a canary copy of the words (matching, differing, and a malformed certificate
carrying a canary), and the download is asked for the file, with every logger at DEBUG. The database
(every text, JSON and binary column of every table, as tests/security/test_canaries.py searches it),
Redis, the files under the var folder and the captured logs are searched for each canary, and the
database must be exactly as it was before the checks: not a row more, not a value changed.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from backend.concerns import services
from backend.organisations.models import Organisation
from tests.security.test_canaries import _database, _files, _redis

pytestmark = pytest.mark.django_db

_TAG = secrets.token_hex(4)
WORDS = f"CANARY-WORDS-{_TAG} the night manager falsified the fall reports"
COPY_DIFFERING = f"CANARY-COPY-{_TAG} the day manager falsified the fall reports"
IN_BAD_CERTIFICATE = f"CANARY-CERT-{_TAG}"


def _csrf(client: Client) -> str:
    page = client.get("/disclosure/verify/").content.decode()
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert found
    return found.group(1)


def test_the_public_check_and_the_download_store_and_log_nothing(demo: None, caplog: pytest.LogCaptureFixture) -> None:
    raised = services.concern_raise(
        draft=services.ConcernDraft(
            unit=Organisation.objects.get(code="RNX07"),
            raiser_kind="staff",
            identity_mode="anonymous",
            themes=["patient_safety"],
            what_happened=WORDS,
        )
    )
    document = raised.certificate.document()
    digest, signature = raised.certificate.fields["words_sha256"], raised.certificate.signature
    before = _database()
    assert raised.concern.reference in before  # the search reaches the concern
    # Intake made the certificate and kept nothing of it.
    assert digest not in before and signature not in before

    for name in ("", "django", "django.request", "django.server", "backend", "frontend"):
        caplog.set_level(logging.DEBUG, logger=name)
    client = Client(enforce_csrf_checks=True)
    token = _csrf(client)
    answers = [
        client.post("/disclosure/verify/", {"certificate": document, "text": WORDS, "csrfmiddlewaretoken": token}),
        client.post(
            "/disclosure/verify/", {"certificate": document, "text": COPY_DIFFERING, "csrfmiddlewaretoken": token}
        ),
        client.post(
            "/disclosure/verify/",
            {"certificate": "{" + IN_BAD_CERTIFICATE, "text": COPY_DIFFERING, "csrfmiddlewaretoken": token},
        ),
        client.post("/disclosure/certificate/", {"certificate": document, "csrfmiddlewaretoken": token}),
    ]
    assert [a.status_code for a in answers] == [200, 200, 400, 200]
    assert "Matches" in answers[0].content.decode() and "Does not match" in answers[1].content.decode()
    assert json.loads(answers[3].content)["signature"] == signature
    # The pages answer without echoing the words they were given.
    assert all(COPY_DIFFERING not in a.content.decode() for a in answers)
    # Logging was on and heard: Django's request logger said the 400 (its path only).
    assert any("Bad Request" in r.getMessage() for r in caplog.records), [r.getMessage() for r in caplog.records]

    after = _database()
    assert after == before, "the checks changed the database"
    places = {
        "the database": after,
        "Redis": _redis(),
        "the var folder": _files(Path(settings.VAR_DIR)),
        "the logs": caplog.text + "\n".join(repr(r.__dict__) for r in caplog.records),
    }
    canaries = (WORDS, f"CANARY-WORDS-{_TAG}", f"CANARY-COPY-{_TAG}", IN_BAD_CERTIFICATE, digest, signature)
    found = [f"{c!r} in {where}" for where, text in places.items() for c in canaries if c in text]
    assert not found, "canaries found:\n" + "\n".join(found)
