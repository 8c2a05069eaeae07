"""Proof of disclosure in a real browser with JavaScript off: the receipt page shows the certificate in
words and downloads it as a file; the public page checks that file (pasted and uploaded) against the
words, says "matches" or "does not match", and refuses an empty form in words. Every page passes axe
(replayed with JavaScript on, as tests/browser/test_raise_and_follow_up.py explains)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser

from tests.browser.test_raise_and_follow_up import NARRATIVE, Walk, _axe_violations, raise_through_the_pages


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_certificate_is_shown_downloaded_and_checked_without_javascript(
    browser: Browser, live_server: Any, demo: None, tmp_path: Path
) -> None:
    dialogs: list[str] = []
    context = browser.new_context(java_script_enabled=False, accept_downloads=True)
    try:
        page = context.new_page()
        walk = Walk(page, live_server.url, dialogs)

        # 1. Raise a concern; the receipt page shows the certificate in words.
        walk.goto("raise: start page", "/raise/")
        raise_through_the_pages(page, walk, NARRATIVE)
        reference = page.get_by_test_id("reference").inner_text().strip()
        shown = page.get_by_test_id("certificate")
        assert reference in shown.inner_text() and "Ward 7" in shown.inner_text()
        assert "in the hour from" in page.get_by_test_id("certificate-hour").inner_text()
        digest = page.get_by_test_id("certificate-digest").inner_text().strip()
        assert len(digest) == 64

        # 2. The download: a .json file named for the reference, holding what the page shows.
        with page.expect_download() as downloading:
            page.get_by_role("button", name="Download the certificate (.json)").click()
        download = downloading.value
        assert download.suggested_filename == f"candour-disclosure-{reference}.json"
        saved = tmp_path / download.suggested_filename
        download.save_as(saved)
        document = saved.read_text()
        assert json.loads(document)["certificate"]["words_sha256"] == digest

        # 3. The public check: the words match, pasted or with the file uploaded.
        walk.goto("verify form", "/disclosure/verify/")
        page.fill("#certificate", document)
        page.fill("#text", NARRATIVE)
        response = walk.click("verify: matches", page.get_by_role("button", name="Check"))
        assert response.status == 200
        assert page.get_by_test_id("verdict").inner_text().startswith("Matches")
        walk.goto("verify form (file)", "/disclosure/verify/")
        page.set_input_files("#certificate_file", str(saved))
        page.fill("#text", NARRATIVE.replace("thirty", "forty"))
        response = walk.click("verify: does not match", page.get_by_role("button", name="Check"))
        assert response.status == 200
        assert "Does not match" in page.get_by_test_id("verdict").inner_text()
        assert "not the ones it was given" in page.get_by_test_id("reason").inner_text()

        # 4. An empty form: an error summary and 400.
        walk.goto("verify form (again)", "/disclosure/verify/")
        response = walk.click("verify with errors", page.get_by_role("button", name="Check"))
        assert response.status == 400
        assert "There is a problem" in page.locator(".nhsuk-error-summary").inner_text()
    finally:
        context.close()

    violations = _axe_violations(browser, walk.snapshots, dialogs)
    assert not dialogs, f"a page ran script from user input: {dialogs}"
    assert not violations, "axe found violations:\n" + "\n".join(violations)
