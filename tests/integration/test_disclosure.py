"""Proof of disclosure end to end: the receipt page and the API hand the raiser a certificate of their
words as received; the file downloads; the public page and `manage.py disclosure_verify` check a copy of
the words against it, before and after a key rotation; bad input is a 400 in words, never a 500."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from backend.concerns.models import Concern
from backend.config.secrets import signing_key_new
from tests.support.concern_bodies import concern_body
from tests.support.raise_pages import answer_every_question, submission_key_on

pytestmark = pytest.mark.django_db

WORDS = "The rota is used to punish people who complain.\r\nIt happened again on Tuesday night."
AT = datetime(2026, 11, 3, 14, 37, 5, tzinfo=UTC)


def _csrf(page: str) -> str:
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert found, "no CSRF token on the page"
    return found.group(1)


def _raise_on_the_page(client: Client, **fields: str) -> tuple[str, str]:
    """Raise through the pages; the receipt page's HTML and the certificate it carries for download."""
    assert answer_every_question(client, concern_body(what_happened=WORDS) | fields) is None
    check = client.get("/raise/check/")
    with time_machine.travel(AT, tick=False):
        page = client.post(
            "/raise/check/",
            {"submission_key": submission_key_on(check), "csrfmiddlewaretoken": _csrf(check.content.decode())},
        )
    assert page.status_code == 200, page.content
    text = page.content.decode()
    found = re.search(r'<input type="hidden" name="certificate" value="([^"]+)"', text)
    assert found, "the receipt page offers no certificate"
    return text, html.unescape(found.group(1))


def _check(client: Client, *, certificate: str, text: str) -> tuple[int, str]:
    form = client.get("/disclosure/verify/").content.decode()
    answer = client.post(
        "/disclosure/verify/", {"certificate": certificate, "text": text, "csrfmiddlewaretoken": _csrf(form)}
    )
    return answer.status_code, answer.content.decode()


def _with_keys(settings, *entries: str) -> None:  # type: ignore[no-untyped-def]
    settings.CANDOUR_SIGNING_KEYS = entries


def test_the_receipt_page_shows_a_certificate_that_verifies_and_downloads(demo: None, settings) -> None:  # type: ignore[no-untyped-def]
    first = signing_key_new()
    _with_keys(settings, first)
    client = Client(enforce_csrf_checks=True)
    page, document = _raise_on_the_page(
        client, identity_mode="named", raiser_name="Nurse Canary Jones", raiser_contact="canary@example.test"
    )
    concern = Concern.objects.get()
    certificate = json.loads(document)["certificate"]
    assert certificate["reference"] == concern.reference
    assert certificate["organisation_code"] == "RNX07" and certificate["organisation_name"] == concern.unit.name
    # A named raise keeps its exact time; the certificate states only its hour, as for anyone.
    assert concern.received_at == AT
    assert certificate["received_hour"] == "2026-11-03T14:00:00Z"
    assert certificate["key_id"] == first.split(":")[0]
    # It names nobody.
    assert "Canary" not in document and "canary@" not in document
    # Shown in words on the page, with the words it was signed over for the raiser to keep.
    assert certificate["words_sha256"] in page and "in the hour from 14:00 UTC on 3 November 2026" in page
    assert "It happened again on Tuesday night." in page

    download = client.post("/disclosure/certificate/", {"certificate": document, "csrfmiddlewaretoken": _csrf(page)})
    assert download.status_code == 200
    assert download["Content-Disposition"] == f'attachment; filename="candour-disclosure-{concern.reference}.json"'
    assert download["Content-Type"].startswith("application/json")
    kept = download.content.decode()
    assert json.loads(kept) == json.loads(document)

    # The public page: the words as a browser sends them match; one changed character does not.
    status, answer = _check(client, certificate=kept, text=WORDS)
    assert status == 200 and "Matches" in answer and concern.reference in answer
    status, answer = _check(client, certificate=kept, text=WORDS.replace("Tuesday", "Thursday"))
    assert status == 200 and "Does not match" in answer and "not the ones it was given" in answer
    assert "Thursday" not in answer  # the words are not sent back

    # After a rotation: the old certificate still verifies; a new raise is signed by the new key.
    second = "2027-rotated:" + signing_key_new().split(":", 1)[1]
    _with_keys(settings, second, first)
    assert _check(client, certificate=kept, text=WORDS)[1].count("Matches") >= 1
    _, newer = _raise_on_the_page(Client())
    assert json.loads(newer)["certificate"]["key_id"] == "2027-rotated"
    keys = client.get("/.well-known/candour-disclosure-keys.json").json()
    assert [(k["key_id"], k["current"]) for k in keys["keys"]] == [("2027-rotated", True), (first.split(":")[0], False)]
    # Retire the old key entirely and its certificates no longer verify: keep old keys listed.
    _with_keys(settings, second)
    status, answer = _check(client, certificate=kept, text=WORDS)
    assert status == 200 and "Does not match" in answer and "never published" in answer


def test_the_api_returns_the_certificate_beside_the_receipt(demo: None) -> None:
    answer = Client().post(
        "/api/v1/concerns/raise/", concern_body(what_happened=WORDS), content_type="application/json"
    )
    assert answer.status_code == 201
    body = answer.json()
    certificate = body["disclosure_certificate"]
    assert certificate["certificate"]["reference"] == body["reference"]
    status, page = _check(Client(), certificate=json.dumps(certificate), text=WORDS.replace("\r\n", "\n"))
    assert status == 200 and "Matches" in page


def test_the_page_answers_bad_input_with_400_in_words_and_never_stores_it(demo: None) -> None:
    client = Client()
    status, page = _check(client, certificate="not a certificate", text="words")
    assert status == 400 and "it is not JSON" in page and 'href="#certificate"' in page
    status, page = _check(client, certificate="", text="")
    assert (
        status == 400 and "Paste the certificate, or choose its file." in page and "Paste the words you wrote." in page
    )
    status, page = _check(client, certificate="{" + " " * 9_000 + "}", text="words")
    assert status == 400 and "too large" in page
    # A file instead of the pasted text: read, and refused in words when it is not text.
    upload = SimpleUploadedFile("cert.json", b"\xff\xfe\x00garbage", content_type="application/json")
    answer = client.post("/disclosure/verify/", {"certificate_file": upload, "text": "words"})
    assert answer.status_code == 400 and "it is not text" in answer.content.decode()
    # Over the request size limit: refused before it is read.
    answer = client.post("/disclosure/verify/", {"certificate": "x", "text": "w" * 300_000})
    assert answer.status_code == 413
    # The download hands back only what Candour signed.
    forged = json.dumps({"certificate": {"version": 1}, "signature": "x"})
    assert client.post("/disclosure/certificate/", {"certificate": forged}).status_code == 400
    assert client.get("/disclosure/certificate/").status_code == 405


def test_the_certificate_file_uploads_and_checks(demo: None) -> None:
    client = Client()
    _, document = _raise_on_the_page(client)
    upload = SimpleUploadedFile("candour.json", document.encode(), content_type="application/json")
    answer = client.post("/disclosure/verify/", {"certificate_file": upload, "text": WORDS})
    assert answer.status_code == 200 and "Matches" in answer.content.decode()


def test_the_command_says_matches_or_why_not(demo: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, document = _raise_on_the_page(Client())
    certificate, words = tmp_path / "certificate.json", tmp_path / "words.txt"
    certificate.write_text(document)
    words.write_text(WORDS.replace("\r\n", "\n") + "\n")  # as an editor saves it
    call_command("disclosure_verify", "--certificate", str(certificate), "--text", str(words))
    assert capsys.readouterr().out.startswith("matches:")
    words.write_text(WORDS.replace("rota", "Rota"))
    with pytest.raises(CommandError, match=r"does not match: .*not the ones it was given"):
        call_command("disclosure_verify", "--certificate", str(certificate), "--text", str(words))
    tampered = json.loads(document)
    tampered["certificate"]["organisation_code"] = "RNX08"
    certificate.write_text(json.dumps(tampered))
    with pytest.raises(CommandError, match="does not match: The certificate was changed"):
        call_command("disclosure_verify", "--certificate", str(certificate), "--text", str(words))
    certificate.write_text("{")
    with pytest.raises(CommandError, match="not JSON"):
        call_command("disclosure_verify", "--certificate", str(certificate), "--text", str(words))
