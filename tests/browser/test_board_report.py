"""The guardian's board report in headless Chromium: the guardian signs in through the pages and reads
their trust's last complete quarter, its numbers in tables and its trends drawn as SVG with JavaScript
off, nothing refused by the Content-Security-Policy, no sideways scrolling on a phone (390 or 320 px), and no axe
violations at 1280 or 390 pixels wide. With CANDOUR_SCREENSHOTS set to a folder, the wide page is
saved there as board-report.png (README's picture)."""

from __future__ import annotations

import os
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from playwright.sync_api import Browser, ConsoleMessage

from backend.concerns import services
from backend.organisations.models import Organisation
from backend.oversight.figures import figures_rollup
from backend.oversight.models import WeeklyCount
from backend.oversight.reports import last_complete_quarter
from backend.oversight.returns import quarter_name
from tests.browser.pages import AXE_JS, AXE_RUN, sign_in_through_the_pages


def _quarter_of_concerns() -> str:
    """A dozen concerns about Northshire Hospitals in the last complete quarter, nine acknowledged by
    the guardian and three left to breach, and two years of the weekly counts its trends chart;
    returns the quarter's code."""
    quarter = last_complete_quarter(timezone.localdate())
    start = timezone.make_aware(datetime.combine(quarter, time(9)))
    guardian = get_user_model().objects.get(username="guardian")
    themes = (["patient_safety"], ["bullying"], ["behaviour", "worker_safety"], ["other"])
    for n in range(12):
        concern = services.concern_raise(
            draft=services.ConcernDraft(
                unit=Organisation.objects.get(code="RNX07" if n % 3 else "RNXMAT"),
                raiser_kind="staff",
                identity_mode="anonymous",
                themes=themes[n % 4],
                what_happened="Checks are being missed on nights.",
            ),
            now=start + timedelta(days=6 * n),
        ).concern
        if n % 4:
            services.concern_acknowledge(concern_id=concern.pk, user=guardian, now=concern.received_at + timedelta(1))
    # The sweep, late in the quarter: the three never acknowledged breach, escalate and alert.
    services.clocks_fire_due(now=start + timedelta(days=80))
    figures_rollup()
    ward = Organisation.objects.get(code="RNX07")
    monday = quarter + timedelta(days=(7 - quarter.weekday()) % 7) + timedelta(weeks=12)
    rows = []
    for back in range(1, 104):
        week = monday - timedelta(weeks=back)
        rows += [
            WeeklyCount(unit=ward, measure="w_speak_answered", week=week, value=3),
            WeeklyCount(unit=ward, measure="w_no_speak_again", week=week, value=back % 2),
            WeeklyCount(unit=ward, measure="w_detriment", week=week, value=(back % 5 == 0)),
            WeeklyCount(unit=ward, measure="w_closed", week=week, value=2),
            WeeklyCount(unit=ward, measure="w_closed_no_fb", week=week, value=(back % 4 == 0)),
        ]
    WeeklyCount.objects.bulk_create(rows)
    return quarter_name(quarter)


@pytest.mark.browser
def test_the_board_report_reads_without_javascript_and_passes_axe(
    browser: Browser, live_server: Any, demo: None
) -> None:
    url = f"{live_server.url}/oversight/board-report/RNX/{_quarter_of_concerns()}/"
    refused: list[str] = []

    def keep(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or "Refused" in message.text:
            refused.append(message.text)

    context = browser.new_context(java_script_enabled=False, viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.on("console", keep)
        sign_in_through_the_pages(page, live_server.url, "guardian")
        page.goto(url)
        assert page.get_by_role("heading", name="Concerns and clocks").is_visible()
        assert page.get_by_role("table", name="Concerns received and deadlines met").is_visible()
        assert page.get_by_test_id("received").inner_text() == "12"
        assert page.get_by_test_id("ack-in-time").inner_text() == "9 of 12 due"
        assert page.locator("svg.candour-chart__svg").count() >= 3
        assert page.get_by_role("link", name="Download this report as a PDF").is_visible()
        screenshots = os.environ.get("CANDOUR_SCREENSHOTS")
        if screenshots:
            page.set_viewport_size({"width": 1280, "height": 1500})
            page.screenshot(path=Path(screenshots) / "board-report.png", full_page=False)
        for width in (390, 320):
            page.set_viewport_size({"width": width, "height": 844})
            assert page.evaluate("document.documentElement.scrollWidth") <= width
        assert refused == []
    finally:
        context.close()

    # axe is JavaScript, injected into a second context that lets it past the page's own policy.
    context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    try:
        page = context.new_page()
        sign_in_through_the_pages(page, live_server.url, "guardian")
        page.goto(url)
        page.add_script_tag(content=AXE_JS.read_text())
        assert page.evaluate(AXE_RUN) == []
        page.set_viewport_size({"width": 390, "height": 844})
        assert page.evaluate(AXE_RUN) == []
    finally:
        context.close()
