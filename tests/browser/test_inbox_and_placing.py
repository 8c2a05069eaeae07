"""The guardian's inbox and placing a concern raised by text, in headless Chromium with JavaScript
off: the guardian signs in through the pages, opens a text message concern from the inbox, places it
on a ward as a patient's concern about patient safety by the visible labels, then narrows the inbox
by ward and by a filter; axe finds no violation on the inbox or on the case page with its form."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser

from backend.concerns.models import Concern
from backend.concerns.sms import sms_inbound_process, sms_inbound_store
from tests.browser.pages import AXE_JS, AXE_RUN, sign_in_through_the_pages


def _text(sid: str, body: str, number: str) -> Concern:
    inbound_id = sms_inbound_store(message_sid=sid, from_number=number, to_number="+447700900101", body=body)
    assert inbound_id is not None
    sms_inbound_process(inbound_id=inbound_id)
    return Concern.objects.filter(channel="sms").order_by("-pk").first()  # type: ignore[return-value]


@pytest.mark.browser
def test_a_guardian_places_a_text_concern_and_filters_the_inbox_without_javascript(
    browser: Browser, live_server: Any, demo: None, tmp_path: Path
) -> None:
    placed = _text("SMBROWSER1", "Maternity triage left unstaffed overnight", "+447700900888")
    waiting = _text("SMBROWSER2", "The call bell was broken", "+447700900889")  # another's: unplaced
    context = browser.new_context(java_script_enabled=False, viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        sign_in_through_the_pages(page, live_server.url, "guardian")
        page.goto(live_server.url + "/inbox/")
        page.get_by_role("link", name=placed.reference).click()
        assert page.get_by_role("heading", name="Place this text message concern").is_visible()
        # The placing form's own fields: the case page also offers the classification's, with the same words.
        placing = page.get_by_test_id("place-form")
        placing.get_by_label("Ward or team it is about").select_option(label="Maternity Unit")
        placing.get_by_label("Patient", exact=True).check()
        placing.get_by_label("Patient safety or quality").check()
        placing.get_by_label("Other", exact=True).uncheck()
        placing.get_by_role("button", name="Place the concern").click()
        assert page.get_by_role("heading", name=f"Concern {placed.reference}").is_visible()
        assert page.get_by_role("heading", name="Place this text message concern").count() == 0
        assert page.get_by_text("Placed on a ward or team").is_visible()
        page.screenshot(path=tmp_path / "case-placed-1280.png", full_page=True)

        page.goto(live_server.url + "/inbox/")
        page.get_by_label("Ward or team").select_option(label="Maternity Unit")
        page.get_by_role("button", name="Apply filters").click()
        assert "unit=RNXMAT" in page.url
        assert page.get_by_role("link", name=placed.reference).is_visible()
        assert page.get_by_role("link", name=waiting.reference).count() == 0
        page.get_by_label("Overdue (0)").check()
        page.get_by_role("button", name="Apply filters").click()
        assert page.get_by_text("No concern matches these filters.").is_visible()
        page.get_by_role("link", name="Clear filters").click()
        assert page.get_by_role("link", name=waiting.reference).is_visible()
        page.screenshot(path=tmp_path / "inbox-1280.png", full_page=True)
    finally:
        context.close()

    # axe is JavaScript, injected into a second context that lets it past the page's own policy.
    context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    try:
        page = context.new_page()
        sign_in_through_the_pages(page, live_server.url, "guardian")
        for path in ("/inbox/", "/inbox/?unit=RNXMAT&due_soon=true&sort=due", f"/inbox/{waiting.reference}/"):
            page.goto(live_server.url + path)
            page.add_script_tag(content=AXE_JS.read_text())
            assert page.evaluate(AXE_RUN) == [], path
        page.set_viewport_size({"width": 390, "height": 844})
        assert page.evaluate(AXE_RUN) == []
    finally:
        context.close()
