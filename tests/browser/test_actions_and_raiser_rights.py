"""Issue 13 items 1 and 5 in a real browser with JavaScript off, every page under axe afterwards (the
same record-and-replay walk as test_raise_and_follow_up): a raiser given feedback is refused escalating
without saying why, then reopens their concern; the guardian records an action and marks it done."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import Browser

from backend.concerns import services
from backend.organisations.demo import DEMO_PASSWORD
from backend.organisations.models import Organisation
from tests.browser.test_raise_and_follow_up import Walk, _axe_violations
from tests.support.sign_in import backup_code_for


@pytest.mark.browser
def test_reopen_and_record_an_action_without_javascript(browser: Browser, live_server: Any, demo: None) -> None:
    users = get_user_model().objects
    raised = services.concern_raise(
        draft=services.ConcernDraft(
            unit=Organisation.objects.get(code="RNX07"),
            raiser_kind="staff",
            identity_mode="named",
            raiser_name="A. Raiser",
            themes=["patient_safety"],
            what_happened="One nurse on nights",
        )
    )
    guardian = users.get(username="guardian")
    services.concern_acknowledge(concern_id=raised.concern.pk, user=guardian)
    services.concern_give_feedback(concern_id=raised.concern.pk, user=guardian, feedback="We looked into it.")
    reference = raised.concern.reference

    dialogs: list[str] = []
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        walk = Walk(page, live_server.url, dialogs)

        # The raiser: feedback given, so they may reopen or take it further (saying why).
        walk.goto("follow-up", "/follow-up/")
        page.fill("#receipt", raised.receipt)
        walk.click("status with feedback", page.get_by_role("button", name="Continue"))
        assert page.get_by_role("heading", name="Reopen your concern").is_visible()
        response = walk.click("escalate without a reason", page.get_by_role("button", name="Escalate my concern"))
        assert response.status == 400
        assert "Say why the feedback was not good enough" in page.locator(".nhsuk-error-summary").inner_text()
        page.get_by_label("What is still wrong (optional)").fill("Still one nurse on Tuesdays")
        walk.click("reopened", page.get_by_role("button", name="Reopen my concern"))
        assert page.get_by_test_id("status").inner_text().strip().lower() == "reopened"
        assert page.get_by_role("heading", name="Reopen your concern").count() == 0

        # The guardian records an action on the case page, then marks it done.
        walk.goto("sign-in", "/sign-in/")
        page.fill("#id_username", "guardian")
        page.fill("#id_password", DEMO_PASSWORD)
        walk.click("second factor", page.get_by_role("button", name="Sign in"))
        page.fill("#code", backup_code_for(guardian))
        walk.click("after sign-in", page.get_by_role("button", name="Continue"))
        walk.goto("case", f"/inbox/{reference}/")
        response = walk.click("action refused", page.get_by_role("button", name="Record action"))
        assert response.status == 400
        page.get_by_label("What will change").fill("Two registered nurses on every night")
        page.get_by_label("Who owns it").fill("Ward manager")
        page.get_by_label("Due date").fill("2099-03-31")
        walk.click("action recorded", page.get_by_role("button", name="Record action"))
        table = page.get_by_test_id("improvement-actions").inner_text()
        assert "Two registered nurses on every night" in table and "Ward manager" in table
        page.get_by_label("What shows it was done").fill("March rota attached")
        walk.click("action done", page.get_by_role("button", name="Mark done"))
        assert "March rota attached" in page.get_by_test_id("improvement-actions").inner_text()
    finally:
        context.close()

    violations = _axe_violations(browser, walk.snapshots, dialogs)
    assert not dialogs
    assert not violations, "axe found violations:\n" + "\n".join(violations)
