"""The governors' dashboard, and an organisation's public page, in headless Chromium: a governor
signs in through the pages and finds the open early warnings and the trust's time line (concerns,
warnings and other indicators on one axis), drawn as SVG with JavaScript off, no style or script
refused by the Content-Security-Policy, and no axe violations on a wide screen or a phone."""

from __future__ import annotations

import io
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, ConsoleMessage

from backend.organisations.models import Organisation
from backend.oversight.indicators import indicators_import
from backend.oversight.models import OrganisationQuarterFigures, WeeklyCount
from backend.oversight.signals import SignalFound, signals_open
from tests.browser.pages import AXE_JS, AXE_RUN, sign_in_through_the_pages


def _history() -> None:
    """Two years of concerns on Ward 7, an early warning last month, and a staff survey figure."""
    ward = Organisation.objects.get(code="RNX07")
    monday = timezone.localdate() - timedelta(days=timezone.localdate().weekday())
    WeeklyCount.objects.bulk_create(
        WeeklyCount(unit=ward, measure="w_received", week=monday - timedelta(weeks=back), value=2 + back % 3)
        for back in range(1, 104)
    )
    last_month = (timezone.localdate().replace(day=1) - timedelta(days=1)).replace(day=1)
    first_monday = last_month + timedelta(days=(7 - last_month.weekday()) % 7)
    signals_open(
        found=[
            SignalFound(
                unit_id=ward.pk,
                measure="w_received",
                theme="",
                kind="rise",
                week=first_monday,
                baseline=2.9,
                recent=6.5,
                statistic=5.2,
                threshold=4.8,
            )
        ],
        now=timezone.now(),
    )
    survey = date(last_month.year - 1, 10, 1).strftime("%Y-%m")
    indicators_import(
        source=io.StringIO(
            "organisation,indicator,label,month,value,source\n"
            f"RNX,secure_raising,Staff who would feel secure raising concerns (%),{survey},58.3,Staff Survey\n"
        )
    )


@pytest.mark.browser
def test_the_dashboard_draws_its_charts_without_javascript_and_passes_axe(
    browser: Browser, live_server: Any, demo: None, tmp_path: Path
) -> None:
    _history()
    refused: list[str] = []

    def keep(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or "Refused" in message.text:
            refused.append(message.text)

    context = browser.new_context(java_script_enabled=False, viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.on("console", keep)
        sign_in_through_the_pages(page, live_server.url, "governor")
        page.goto(live_server.url + "/oversight/")
        assert page.get_by_role("heading", name="Early warnings").is_visible()
        assert page.get_by_role("link", name="Ward 7, Acute Medicine: more than usual").is_visible()
        timeline = page.locator("svg.candour-chart__svg")
        assert timeline.count() == 1
        box = timeline.first.bounding_box()
        assert box is not None and box["width"] >= 640 and box["height"] > 300
        # One dot a month of concerns (24) and the survey's one, and the warning's numbered line.
        assert page.locator("svg.candour-chart__svg circle.candour-chart__dot").count() == 25
        assert page.locator("svg.candour-chart__svg line.candour-chart__mark").count() == 1
        page.screenshot(path=tmp_path / "dashboard-1280.png", full_page=True)
        page.set_viewport_size({"width": 390, "height": 844})
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        assert refused == []
    finally:
        context.close()

    # axe is JavaScript, injected into a second context that lets it past the page's own policy.
    context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    try:
        page = context.new_page()
        sign_in_through_the_pages(page, live_server.url, "governor")
        page.goto(live_server.url + "/oversight/")
        page.add_script_tag(content=AXE_JS.read_text())
        assert page.evaluate(AXE_RUN) == []
        page.set_viewport_size({"width": 390, "height": 844})
        assert page.evaluate(AXE_RUN) == []
    finally:
        context.close()


@pytest.mark.browser
def test_an_organisations_public_page_draws_its_charts_without_javascript_and_passes_axe(
    browser: Browser, live_server: Any, demo: None
) -> None:
    trust = Organisation.objects.get(code="RNX")
    quarter = date(2024, 10, 1)
    for received in (21, 3, 25, 18, 30, 27, 22, 19):
        OrganisationQuarterFigures.objects.create(
            organisation=trust, quarter=quarter, received=received, closed=received, closed_without_feedback=5
        )
        quarter = date(quarter.year + quarter.month // 10, (quarter.month + 2) % 12 + 1, 1)
    context = browser.new_context(java_script_enabled=False, viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.goto(live_server.url + "/figures/RNX/")
        assert page.locator("svg.candour-chart__svg").count() == 2
        # The quarter with 3 concerns is a gap: 7 dots of concerns received, not 8.
        assert page.locator("svg.candour-chart__svg").first.locator("circle.candour-chart__dot").count() == 7
    finally:
        context.close()
    context = browser.new_context(viewport={"width": 390, "height": 844}, bypass_csp=True)
    try:
        page = context.new_page()
        page.goto(live_server.url + "/figures/RNX/")
        page.add_script_tag(content=AXE_JS.read_text())
        assert page.evaluate(AXE_RUN) == []
    finally:
        context.close()
