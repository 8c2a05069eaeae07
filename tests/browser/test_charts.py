"""The charts on a page built on Candour's base template, in headless Chromium: drawn without
JavaScript, no style or script refused by the Content-Security-Policy, and no axe violations.

No route shows charts yet (the governors' dashboard will), and every route must declare its access, so the
page is rendered here with the includes and sample data and served to the browser through
``page.route`` with the CSP header Candour sends; stylesheets come from the static folders as they
would from the server. Nothing touches the database.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from csp.utils import build_policy
from django.contrib.auth.models import AnonymousUser
from django.contrib.staticfiles import finders
from django.template import RequestContext, Template
from django.test import RequestFactory
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, Route

from tests.browser.pages import AXE_JS, AXE_RUN
from tests.support.chart_samples import ward_7_cusum, ward_7_spc

ORIGIN = "http://candour.test"
PAGE = Template(
    """{% extends "frontend/base.html" %}{% block title %}Ward 7{% endblock %}{% block content %}
<h1 class="nhsuk-heading-l">Ward 7</h1>
<h2 class="nhsuk-heading-m">Concerns a week</h2>
{% include "frontend/includes/spc_chart.html" with chart=spc %}
<h2 class="nhsuk-heading-m">Rise detector</h2>
{% include "frontend/includes/cusum_chart.html" with chart=cusum %}
{% endblock %}"""
)


def charts_page() -> str:
    request = RequestFactory().get("/ward-7/")
    request.user = AnonymousUser()
    return PAGE.render(RequestContext(request, {"spc": ward_7_spc(), "cusum": ward_7_cusum()}))


def serve(route: Route, *, html: str) -> None:
    path = route.request.url.removeprefix(ORIGIN).split("?")[0]
    if path.startswith("/static/"):
        found = finders.find(path.removeprefix("/static/"))
        if found is None:
            route.fulfill(status=404, body="")
            return
        kind = {"css": "text/css", "js": "text/javascript", "svg": "image/svg+xml"}.get(path.rsplit(".", 1)[-1])
        route.fulfill(status=200, body=Path(str(found)).read_bytes(), content_type=kind or "application/octet-stream")
        return
    route.fulfill(
        status=200,
        body=html,
        content_type="text/html; charset=utf-8",
        headers={"Content-Security-Policy": build_policy()},
    )


@pytest.fixture
def context_without_script(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(java_script_enabled=False, viewport={"width": 1280, "height": 900})
    yield context
    context.close()


def open_page(context: BrowserContext, *, html: str, refused: list[str]) -> Page:
    page = context.new_page()
    page.on("console", lambda m: _keep_refusals(m, refused))
    page.route("**/*", lambda route: serve(route, html=html))
    page.goto(ORIGIN + "/ward-7/")
    return page


def _keep_refusals(message: ConsoleMessage, refused: list[str]) -> None:
    if "Content Security Policy" in message.text or "Refused" in message.text:
        refused.append(message.text)


@pytest.mark.browser
def test_the_charts_are_drawn_without_javascript(context_without_script: BrowserContext, tmp_path: Path) -> None:
    refused: list[str] = []
    page = open_page(context_without_script, html=charts_page(), refused=refused)
    svgs = page.locator("svg.candour-chart__svg")
    assert svgs.count() == 2
    for index in range(2):
        box = svgs.nth(index).bounding_box()
        assert box is not None and box["width"] >= 640 and box["height"] > 200
    assert page.locator("svg.candour-chart__svg circle.candour-chart__dot").count() == 28 + 30
    page.screenshot(path=tmp_path / "charts-1280.png")
    page.set_viewport_size({"width": 390, "height": 844})
    # On a phone the chart keeps its size (words stay legible) and its box scrolls sideways.
    box = svgs.first.bounding_box()
    assert box is not None and box["width"] >= 640
    figure = page.locator(".candour-chart__figure").first.bounding_box()
    assert figure is not None and figure["width"] < 390
    # ... and nothing else pushes the page wider than the phone (the tables stack their cells).
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=tmp_path / "charts-390.png")
    assert refused == []


@pytest.mark.browser
def test_the_charts_pass_axe(browser: Browser) -> None:
    # axe is injected as an inline script, which the page's own policy rightly refuses; the test without
    # JavaScript above keeps the policy and checks that nothing of the page's is refused.
    context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    try:
        refused: list[str] = []
        page = open_page(context, html=charts_page(), refused=refused)
        page.add_script_tag(content=AXE_JS.read_text())
        violations: list[dict[str, Any]] = page.evaluate(AXE_RUN)
        assert violations == []
        page.set_viewport_size({"width": 390, "height": 844})
        assert page.evaluate(AXE_RUN) == []
    finally:
        context.close()
