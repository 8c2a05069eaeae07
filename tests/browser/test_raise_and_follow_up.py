"""A raiser and a guardian walk the service in a real browser, with JavaScript off, and every page passes axe.

How the two concerns are kept apart, and why this is honest:

1. The walk runs in a browser context created with ``java_script_enabled=False``: every link, form and
   redirect has to work as plain HTML. Playwright's locators and ``page.evaluate`` still work there (they
   go through the DevTools protocol), but no script the page itself carries or injects can run.
2. axe is JavaScript, so it cannot run in that context. Re-opening each URL in a JavaScript context would
   not reproduce half the pages: the receipt, the error pages and the status page are answers to POSTs,
   and the receipt is shown once only. So each page's response (the exact bytes, status and content type
   the server sent) is recorded during the walk, and afterwards replayed into a JavaScript-enabled
   context at the same URL through ``page.route``. Stylesheets and images still come from the live
   server, so axe sees the page as a user would, including colour contrast. axe is injected with
   ``add_script_tag`` and run with ``axe.run()``.
3. The replay is also the XSS check: the concern text holds ``<script>alert(1)</script>``; the case page
   replayed with JavaScript on would run it if the server had not escaped it, and a ``dialog`` listener on
   every page (in both contexts) records any alert. The test asserts none fired.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import Browser, Dialog, Page, Response, Route

from backend.organisations.demo import DEMO_PASSWORD
from tests.browser.pages import AXE_JS, AXE_RUN
from tests.support.sign_in import backup_code_for

CROCKFORD = "[0-9A-HJKMNP-TV-Z]"
RECEIPT_RE = re.compile(rf"^{CROCKFORD}{{4}}(-{CROCKFORD}{{4}}){{5}}$")
SCRIPT = "<script>alert(1)</script>"
NARRATIVE = f"Two nurses for thirty patients on nights {SCRIPT} 😟🏥🚑 الرجاء المساعدة في الجناح"


@dataclass(frozen=True)
class Snapshot:
    name: str
    url: str
    status: int
    content_type: str
    body: bytes


class Walk:
    """One JavaScript-free tab that keeps every page it lands on, for the axe pass."""

    def __init__(self, page: Page, base_url: str, dialogs: list[str]) -> None:
        self.page = page
        self.base_url = base_url
        self.snapshots: list[Snapshot] = []
        page.on("dialog", lambda d: _dismiss(d, dialogs))

    def _keep(self, name: str, response: Response | None) -> Response:
        assert response is not None, f"{name}: no response"
        self.snapshots.append(
            Snapshot(
                name=name,
                url=response.url,
                status=response.status,
                content_type=response.headers.get("content-type", "text/html; charset=utf-8"),
                body=response.body(),
            )
        )
        return response

    def goto(self, name: str, path: str) -> Response:
        return self._keep(name, self.page.goto(self.base_url + path))

    def click(self, name: str, target: Any) -> Response:
        """Click a link or a submit button and keep the page the browser lands on (after redirects)."""
        with self.page.expect_navigation() as navigation:
            target.click()
        return self._keep(name, navigation.value)


def raise_through_the_pages(page: Page, walk: Walk, narrative: str) -> Response:
    """From the start page, answer each question by its visible label, change one answer from "check
    your answers", and send; the receipt page's response."""
    walk.click("raise: who are you", page.get_by_role("button", name="Start now"))
    page.get_by_label("Member of staff").check()
    walk.click("raise: which ward", page.get_by_role("button", name="Continue"))
    page.get_by_label("Which ward or team is your concern about?").select_option(
        label="Ward 7, Acute Medicine, Northshire Hospitals NHS Foundation Trust"
    )
    walk.click("raise: what about", page.get_by_role("button", name="Continue"))
    page.get_by_label("Patient safety or quality").check()
    walk.click("raise: what happened", page.get_by_role("button", name="Continue"))
    page.get_by_label("What happened?").fill(narrative)
    walk.click("raise: when", page.get_by_role("button", name="Continue"))
    walk.click("raise: outcome", page.get_by_role("button", name="Continue"))  # optional: left empty
    walk.click("raise: not to handle", page.get_by_role("button", name="Continue"))
    page.get_by_label("My line manager").check()
    walk.click("raise: urgent", page.get_by_role("button", name="Continue"))
    page.get_by_label("No", exact=True).check()
    walk.click("raise: your professional group", page.get_by_role("button", name="Continue"))
    page.get_by_label("Registered nurses and midwives").check()
    walk.click("raise: your name", page.get_by_role("button", name="Continue"))
    page.get_by_label("Named", exact=True).check()
    walk.click("raise: contact", page.get_by_role("button", name="Continue"))
    page.get_by_label("Your name").fill("A. Raiser")
    walk.click("raise: check your answers", page.get_by_role("button", name="Continue"))
    assert page.get_by_role("heading", name="Check your answers before sending your concern").is_visible()
    assert "A. Raiser" in page.locator(".nhsuk-summary-list").inner_text()
    assert "My line manager" in page.locator(".nhsuk-summary-list").inner_text()
    # Change one's mind: anonymous after all. The name is dropped, and the page comes back here.
    walk.click(
        "raise: change your name",
        page.get_by_role("link", name="Change your answer to: Do you want to give your name?"),
    )
    page.get_by_label("Anonymous", exact=True).check()
    walk.click("raise: check again", page.get_by_role("button", name="Save and go back to your answers"))
    answers = page.locator(".nhsuk-summary-list").inner_text()
    assert "Anonymous" in answers and "A. Raiser" not in answers
    return walk.click("receipt", page.get_by_role("button", name="Send your concern"))


def _dismiss(dialog: Dialog, dialogs: list[str]) -> None:
    dialogs.append(f"{dialog.type}: {dialog.message}")
    dialog.dismiss()


def _replayer(snap: Snapshot) -> Callable[[Route], None]:
    """A route handler that answers the navigation to the snapshot's URL with the recorded response;
    everything else (stylesheet, fonts, images) goes to the live server."""

    def replay(route: Route) -> None:
        request = route.request
        if request.is_navigation_request() and request.url == snap.url:
            route.fulfill(status=snap.status, content_type=snap.content_type, body=snap.body)
        else:
            route.continue_()

    return replay


def _axe_violations(browser: Browser, snapshots: list[Snapshot], dialogs: list[str]) -> list[str]:
    """Replay each recorded response into a JavaScript-enabled tab and run axe over it."""
    found: list[str] = []
    context = browser.new_context(java_script_enabled=True, bypass_csp=True)  # axe is injected inline
    try:
        for snap in snapshots:
            page = context.new_page()
            page.on("dialog", lambda d: _dismiss(d, dialogs))
            page.route("**/*", _replayer(snap))
            page.goto(snap.url, wait_until="load")
            page.add_script_tag(path=str(AXE_JS))
            for v in page.evaluate(AXE_RUN):
                found.append(f"{snap.name} ({snap.url}): {v['id']} [{v['impact']}] {v['help']} -> {v['targets']}")
            page.close()
    finally:
        context.close()
    return found


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_raise_follow_up_and_acknowledge_without_javascript(browser: Browser, live_server: Any, demo: None) -> None:
    dialogs: list[str] = []
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        walk = Walk(page, live_server.url, dialogs)

        # 1. Home, then the start page, a question a page, check your answers, and send.
        walk.goto("home", "/")
        walk.click("raise: start page", page.get_by_role("link", name="Raise a concern"))
        assert page.url == live_server.url + "/raise/"
        response = raise_through_the_pages(page, walk, NARRATIVE)

        # 2. The receipt page: a reference and a receipt code, shown once.
        assert response.status == 200
        reference = page.get_by_test_id("reference").inner_text().strip()
        receipt = page.get_by_test_id("receipt").inner_text().strip()
        assert reference
        assert RECEIPT_RE.match(receipt), receipt

        # 3. Follow up with the receipt: the status is "received".
        walk.goto("follow-up", "/follow-up/")
        page.fill("#receipt", receipt)
        response = walk.click("status", page.get_by_role("button", name="Continue"))
        assert response.status == 200
        assert page.get_by_test_id("status").inner_text().strip().lower() == "received"
        assert reference in page.locator("h1").inner_text()

        # 4. A wrong receipt: an error summary and 400.
        walk.goto("follow-up (again)", "/follow-up/")
        page.fill("#receipt", "0000-0000-0000-0000-0000-0000")
        response = walk.click("follow-up with error", page.get_by_role("button", name="Continue"))
        assert response.status == 400
        assert page.locator(".nhsuk-error-summary").is_visible()
        assert "We could not find" in page.content()

        # 5. A question answered with nothing: an error summary and 400, and the answer kept is none.
        walk.goto("raise: start (again)", "/raise/")
        walk.click("raise: first question (again)", page.get_by_role("button", name="Start now"))
        response = walk.click("raise: question with errors", page.get_by_role("button", name="Continue"))
        assert response.status == 400
        assert "There is a problem" in page.locator(".nhsuk-error-summary").inner_text()
        walk.click("raise: answers deleted", page.get_by_role("button", name="Stop and delete my answers"))
        assert page.get_by_role("heading", name="Your answers have been deleted").is_visible()

        # 6. The guardian signs in, opens the concern from the inbox and acknowledges it.
        walk.goto("sign-in", "/sign-in/")
        page.fill("#id_username", "guardian")
        page.fill("#id_password", DEMO_PASSWORD)
        walk.click("second factor", page.get_by_role("button", name="Sign in"))
        # The guardian's role needs a second step: a one-time backup code, as `make run` prints them.
        assert page.url.startswith(f"{live_server.url}/sign-in/code/")
        page.fill("#code", backup_code_for(get_user_model().objects.get(username="guardian")))
        walk.click("after sign-in", page.get_by_role("button", name="Continue"))
        assert page.url == f"{live_server.url}/inbox/"
        walk.goto("inbox", "/inbox/")
        walk.click("case", page.get_by_role("link", name=reference, exact=True))
        assert page.url == f"{live_server.url}/inbox/{reference}/"
        case_body = walk.snapshots[-1].body.decode()
        assert SCRIPT not in case_body, "the concern text reached the page unescaped"
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in case_body
        # Shown as text, whole: markup, emoji and Arabic survive the round trip through the database.
        assert page.get_by_text(NARRATIVE, exact=True).count() == 1
        assert page.locator("main script").count() == 0
        assert page.get_by_test_id("status").inner_text().strip().lower() == "received"
        walk.click("case after acknowledging", page.get_by_role("button", name="Acknowledge"))
        assert page.url == f"{live_server.url}/inbox/{reference}/"
        assert page.get_by_test_id("status").inner_text().strip().lower() == "acknowledged"
        assert page.get_by_role("button", name="Acknowledge").count() == 0

        # 7. The account's two-step sign-in page, and setting up an authenticator app (shown, not done).
        walk.goto("two-step", "/account/two-step/")
        walk.click("set up an app", page.get_by_role("link", name="Set up an authenticator app"))
        assert page.get_by_test_id("app-uri").inner_text().startswith("otpauth://totp/Candour")
    finally:
        context.close()

    # 8. Every page the walk landed on, under axe, with JavaScript on. The case page runs here with
    # JavaScript enabled, so an unescaped script would raise a dialog now.
    violations = _axe_violations(browser, walk.snapshots, dialogs)
    assert not dialogs, f"a page ran script from user input: {dialogs}"
    assert not violations, "axe found violations:\n" + "\n".join(violations)
    visited = {snap.name for snap in walk.snapshots}
    for name in (
        "home",
        "raise: start page",
        "raise: who are you",
        "raise: which ward",
        "raise: contact",
        "raise: check your answers",
        "raise: question with errors",
        "raise: answers deleted",
        "receipt",
        "follow-up",
        "status",
        "sign-in",
        "second factor",
        "inbox",
        "case",
        "two-step",
        "set up an app",
    ):
        assert name in visited
