"""Every page each role can reach, in headless Chromium: axe-clean, no sideways scrolling at 320 px or
at 200% zoom, and no link that leads nowhere; a raiser's journey by keyboard alone, with a visible
focus on every control, on a 320 px screen, each page under 150 KB as served and with no script.

How the pages are found. For each role (nobody signed in, then every demo role signed in through the
pages), the test starts at that role's landing pages and follows every link on the site it finds,
breadth first. Addresses that differ only in a reference or a code (``/inbox/<ref>/``) are one kind of
page: the first of a kind is visited, so a long inbox does not make the test long. Downloads (PDF,
CSV), the API, the admin site and signing out are left out: they are not pages. Pages that answer a
POST (the receipt, a form's errors) are reached by the journeys in the other browser tests, which scan
each of them too. The main roles' pages are kept as screenshots at 1280 px and 390 px in the test
artifacts (var/test-artifacts/screenshots/, or CANDOUR_TEST_ARTIFACTS).

Why 640 px for 200% zoom: a page zoomed to 200% in a 1280 px window lays out exactly as the same page
in a 640 px window at 100% (WCAG 1.4.4, 1.4.10); the test sets the narrower window rather than a zoom
level headless Chromium does not expose.
"""

from __future__ import annotations

import gzip
import re
from collections import Counter, deque
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urldefrag, urlparse

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from playwright.sync_api import Browser, Page

from backend.concerns import services
from backend.organisations.models import Organisation
from backend.oversight.figures import figures_rollup
from tests.browser.pages import ARTIFACTS, AXE_JS, AXE_RUN, sign_in_through_the_pages
from tests.support.concern_bodies import concern_body

ROLES = (
    "guardian",
    "handler",
    "governor",
    "guardian-community",
    "commissioner",
    "icb-guardian",
    "regulator",
    "patient-group",
)
# Where each kind of visitor starts; everything else is found by following links.
STARTS = {"": ("/", "/figures/", "/follow-up/", "/raise/")}
STAFF_STARTS = ("/", "/inbox/", "/oversight/")
SKIP = re.compile(r"/sign-out|pdf|/admin/|/api/|/static/|\.pdf$|\.csv$|format=csv|/download|\.well-known|/metrics")
PER_KIND = 1
# Whose pages are kept as screenshots (the main pages: a raiser's, a guardian's, a governor's).
SCREENSHOT_ROLES = ("", "guardian", "governor")
PER_ROLE = 40
RAISER_PAGE_LIMIT = 150 * 1024

# A link's address, with what varies between concerns and organisations folded into one placeholder.
_VARYING = re.compile(r"^(?=.*\d)[A-Za-z0-9-]{4,}$")


def _kind_of(url: str) -> str:
    parsed = urlparse(url)
    path = "/".join("*" if _VARYING.match(part) else part for part in parsed.path.split("/"))
    keys = sorted({pair.split("=")[0] for pair in parsed.query.split("&") if pair})
    return path + ("?" + "&".join(keys) if keys else "")


def _some_history() -> None:
    """Concerns in several states on two trusts: one acknowledged and answered, one escalated up the
    route by the sweep (with its alert), one closed, so each page has rows to show."""
    guardian = get_user_model().objects.get(username="guardian")
    community = get_user_model().objects.get(username="guardian-community")
    ward = Organisation.objects.get(code="RNX07")
    team = Organisation.objects.get(code="RCXDNE")
    named = {"identity_mode": "confidential", "raiser_name": "A. Raiser", "raiser_contact": "07700 900123"}
    answered = services.concern_raise(draft=services.ConcernDraft(**_draft(ward, "bullying") | named)).concern
    services.concern_acknowledge(concern_id=answered.pk, user=guardian)
    services.concern_message_to_raiser(concern_id=answered.pk, user=guardian, body="Which shifts were these?")
    closed = services.concern_raise(draft=services.ConcernDraft(**_draft(ward, "worker_safety"))).concern
    services.concern_acknowledge(concern_id=closed.pk, user=guardian)
    services.concern_start_review(concern_id=closed.pk, user=guardian)
    services.concern_give_feedback(concern_id=closed.pk, user=guardian, feedback="The rota has been changed.")
    services.concern_close(concern_id=closed.pk, user=guardian, reason="Feedback given and accepted.")
    services.concern_raise(draft=services.ConcernDraft(**_draft(team, "patient_safety")))
    ignored = services.concern_raise(draft=services.ConcernDraft(**_draft(team, "behaviour"))).concern
    services.concern_acknowledge(concern_id=ignored.pk, user=community)
    services.clocks_fire_due(now=timezone.now() + timedelta(days=120))
    figures_rollup()  # what beat does every 30 seconds: the public pages show the folded figures


def _draft(unit: Organisation, theme: str) -> dict[str, Any]:
    body = concern_body(themes=[theme], what_happened=f"A concern about {theme.replace('_', ' ')}.")
    return {**body, "unit": unit}


def _links(page: Page, base: str) -> list[str]:
    hrefs: list[str] = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
    found = []
    for href in hrefs:
        url = urldefrag(href)[0]
        if url.startswith(base) and not SKIP.search(url):
            found.append(url)
    return found


def _check(page: Page, url: str, problems: list[str], shots: Path | None) -> None:
    """axe at 1280 px; nothing wider than the window at 640 px (200% zoom) and at 320 px; for the main
    roles, a screenshot at 1280 px and at 390 px (a phone) left in the test artifacts."""
    page.set_viewport_size({"width": 1280, "height": 900})
    page.add_script_tag(content=AXE_JS.read_text())
    for v in page.evaluate(AXE_RUN):
        problems.append(f"{url}: axe {v['id']} [{v['impact']}] {v['help']} -> {v['targets']}")
    name = re.sub(r"[^A-Za-z0-9]+", "-", urlparse(url).path + "-" + urlparse(url).query).strip("-") or "home"
    if shots is not None:
        page.screenshot(path=shots / f"{name}-1280.png", full_page=True)
    for width in (640, 390, 320):
        page.set_viewport_size({"width": width, "height": 900})
        wide = page.evaluate("document.documentElement.scrollWidth")
        if wide > width:
            problems.append(f"{url}: {wide} px wide in a {width} px window (scrolls sideways)")
        if width == 390 and shots is not None:
            page.screenshot(path=shots / f"{name}-390.png", full_page=True)


def _crawl(browser: Browser, base: str, username: str, problems: list[str]) -> set[str]:
    context = browser.new_context(bypass_csp=True)  # axe is injected as an inline script
    visited: set[str] = set()
    shots = None
    if username in SCREENSHOT_ROLES:
        shots = ARTIFACTS / "screenshots" / (username or "public")
        shots.mkdir(parents=True, exist_ok=True)
    try:
        page = context.new_page()
        if username:
            sign_in_through_the_pages(page, base, username)
        queue = deque(base + path for path in STARTS.get(username, STAFF_STARTS))
        kinds: Counter[str] = Counter()
        while queue and len(visited) < PER_ROLE:
            url = queue.popleft()
            if url in visited or kinds[_kind_of(url)] >= PER_KIND:
                continue
            kinds[_kind_of(url)] += 1
            visited.add(url)
            response = page.goto(url)
            status = response.status if response else 0
            if status == 404 and url in {base + p for p in STAFF_STARTS}:
                continue  # a landing page this role has no part in (a guardian's inbox for a governor)
            if status != 200:
                problems.append(f"{url} ({username or 'nobody signed in'}): answered {status}")
                continue
            _check(page, url, problems, shots)
            queue.extend(link for link in _links(page, base) if link not in visited)
    finally:
        context.close()
    return visited


@pytest.mark.browser
@pytest.mark.timeout(900)  # nine roles, every page three times over: minutes, not seconds
@pytest.mark.django_db(transaction=True)
def test_every_page_each_role_reaches_is_axe_clean_and_fits_320_px_and_200_percent_zoom(
    browser: Browser, live_server: Any, demo: None
) -> None:
    _some_history()
    problems: list[str] = []
    visited: dict[str, set[str]] = {}
    for username in ("", *ROLES):
        visited[username] = _crawl(browser, live_server.url, username, problems)
    assert not problems, "\n".join(problems)
    every = set().union(*visited.values())
    # The crawl reached what each role has: the test is only as good as the pages it found.
    paths = {urlparse(u).path for u in every}
    for expected in ("/", "/raise/", "/follow-up/", "/figures/", "/inbox/", "/oversight/"):
        assert expected in paths, f"{expected} never reached: {sorted(paths)}"
    assert any(p.startswith("/inbox/") and p != "/inbox/" for p in paths), "no case page reached"
    assert any(p.startswith("/figures/") and p != "/figures/" for p in paths), "no organisation's page reached"
    assert len(every) >= 25, sorted(every)


# ---------------------------------------------------------------------------- by keyboard alone


def _focus_shows(page: Page) -> bool:
    """The focused element is marked: an outline, a box shadow or the design system's yellow."""
    return bool(
        page.evaluate(
            """() => {
              const el = document.activeElement;
              if (!el || el === document.body) return false;
              const s = getComputedStyle(el);
              const outlined = s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0;
              const shadowed = s.boxShadow && s.boxShadow !== 'none';
              const yellow = s.backgroundColor === 'rgb(255, 235, 59)';
              return outlined || shadowed || yellow;
            }"""
        )
    )


def _tab_to(page: Page, matches: str, unseen: list[str]) -> None:
    """Press Tab until the focused element matches ``matches`` (a JS predicate on ``el``), checking the
    focus is visible at every stop."""
    for _ in range(60):
        page.keyboard.press("Tab")
        if not _focus_shows(page):
            unseen.append(page.evaluate("document.activeElement.outerHTML.slice(0, 120)") + " on " + page.url)
        if page.evaluate(f"(() => {{ const el = document.activeElement; return !!el && ({matches}); }})()"):
            return
    raise AssertionError(f"Tab never reached {matches} on {page.url}")


def _continue(page: Page, unseen: list[str], name: str = "Continue") -> None:
    _tab_to(page, f"el.tagName === 'BUTTON' && el.textContent.trim() === {name!r}", unseen)
    with page.expect_navigation():
        page.keyboard.press("Enter")


def _choose(page: Page, label: str, unseen: list[str]) -> None:
    """A radio button: Tab into its group, then the arrow keys until the one labelled ``label`` is on."""
    _tab_to(page, "el.type === 'radio'", unseen)
    for _ in range(12):
        checked = page.evaluate("document.activeElement.labels[0].textContent.trim()")
        if checked == label:
            page.keyboard.press("Space")
            return
        page.keyboard.press("ArrowDown")
    raise AssertionError(f"no radio labelled {label!r} on {page.url}")


def _tick(page: Page, label: str, unseen: list[str]) -> None:
    _tab_to(page, f"el.type === 'checkbox' && el.labels[0].textContent.trim() === {label!r}", unseen)
    page.keyboard.press("Space")


def _type_into(page: Page, field_id: str, text: str, unseen: list[str]) -> None:
    _tab_to(page, f"el.id === {field_id!r}", unseen)
    page.keyboard.type(text)


def _until(page: Page, selector: str, unseen: list[str], record: Any) -> None:
    """Continue past optional questions, left as they are, until the page with ``selector``."""
    for _ in range(8):
        if page.locator(selector).count():
            return
        _continue(page, unseen)
        record()
    raise AssertionError(f"never reached a page with {selector}; stuck on {page.url}")


def _weight(page: Page, sizes: dict[str, int], html: bytes) -> int:
    """The page as served: its HTML and every stylesheet, font and image it loads, each gzipped as the
    production static files are (whitenoise serves them precompressed)."""
    return len(gzip.compress(html)) + sum(sizes.values())


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_raiser_raises_and_follows_up_by_keyboard_alone_on_a_320_px_screen(
    browser: Browser, live_server: Any, demo: None
) -> None:
    context = browser.new_context(java_script_enabled=False, viewport={"width": 320, "height": 640})
    unseen: list[str] = []
    pages: list[tuple[str, int, int, int]] = []  # url, weight, scripts, width
    assets: dict[str, int] = {}
    try:
        page = context.new_page()

        def keep(response: Any) -> None:
            if response.request.resource_type in ("stylesheet", "image", "font", "script"):
                assets[response.url] = len(gzip.compress(response.body()))

        page.on("response", keep)

        def record() -> None:
            html = page.content().encode()
            scripts = page.locator("script").count()
            width = page.evaluate("document.documentElement.scrollWidth")
            pages.append((page.url, _weight(page, assets, html), scripts, width))

        page.goto(live_server.url + "/")
        record()
        _tab_to(page, "el.tagName === 'A' && el.textContent.trim() === 'Raise a concern'", unseen)
        with page.expect_navigation():
            page.keyboard.press("Enter")
        record()
        _continue(page, unseen, "Start now")
        record()
        _choose(page, "Patient", unseen)
        _continue(page, unseen)
        record()
        _until(page, "select[name=unit]", unseen, record)
        _tab_to(page, "el.name === 'unit'", unseen)
        page.keyboard.press("ArrowDown")  # the first ward or team
        _continue(page, unseen)
        record()
        _tick(page, "Patient safety or quality", unseen)
        _continue(page, unseen)
        record()
        _type_into(page, "what_happened", "Call bells go unanswered at night.", unseen)
        _continue(page, unseen)
        record()
        # The optional questions until "are patients at risk", each left as it is.
        _until(page, "input[name=urgent]", unseen, record)
        _choose(page, "No", unseen)
        _continue(page, unseen)
        record()
        _until(page, "input[name=identity_mode]", unseen, record)  # the optional questions left as they are
        _choose(page, "Anonymous", unseen)
        _continue(page, unseen)
        record()
        assert "Check your answers" in page.locator("h1").inner_text()
        _continue(page, unseen, "Send your concern")
        record()
        receipt = page.get_by_test_id("receipt").inner_text().strip()
        assert receipt

        page.goto(live_server.url + "/follow-up/")
        record()
        _type_into(page, "receipt", receipt, unseen)
        _continue(page, unseen)
        record()
        assert page.get_by_test_id("status").inner_text().strip().lower() == "received"
    finally:
        context.close()

    assert not unseen, "focus not visible on:\n" + "\n".join(unseen)
    assert len(pages) >= 12
    heavy = [f"{url}: {weight} bytes" for url, weight, _, _ in pages if weight > RAISER_PAGE_LIMIT]
    assert not heavy, heavy
    assert [url for url, _, scripts, _ in pages if scripts] == []
    assert [f"{url}: {width} px" for url, _, _, width in pages if width > 320] == []
