"""Issue 13 item 4 in a real browser with JavaScript off, every page under axe afterwards (the same
record-and-replay walk as test_raise_and_follow_up): a month after their concern closed, the raiser
signs in with their receipt, is refused an incomplete answer in words, then answers the check-in by
its visible labels, reporting detriment; the page then shows the detriment case they opened."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from playwright.sync_api import Browser

from backend.concerns import services
from backend.concerns.models import Concern
from backend.organisations.models import Organisation
from tests.browser.test_raise_and_follow_up import Walk, _axe_violations


@pytest.mark.browser
def test_a_raiser_answers_a_check_in_without_javascript(browser: Browser, live_server: Any, demo: None) -> None:
    # Closed 32 days ago: its 1-month check-in is open now.
    closed_at = timezone.now() - timedelta(days=32)
    raised = services.concern_raise(
        draft=services.ConcernDraft(
            unit=Organisation.objects.get(code="RNX07"),
            raiser_kind="staff",
            identity_mode="anonymous",
            themes=["bullying"],
            what_happened="Shouted at in handover",
        ),
        now=closed_at - timedelta(days=20),
    )
    guardian = get_user_model().objects.get(username="guardian")
    concern = raised.concern
    services.concern_acknowledge(concern_id=concern.pk, user=guardian, now=closed_at - timedelta(days=19))
    services.concern_give_feedback(
        concern_id=concern.pk, user=guardian, feedback="We spoke to the team.", now=closed_at
    )
    services.concern_close(concern_id=concern.pk, user=guardian, reason="Resolved", now=closed_at)

    dialogs: list[str] = []
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        walk = Walk(page, live_server.url, dialogs)
        walk.goto("follow-up", "/follow-up/")
        page.fill("#receipt", raised.receipt)
        walk.click("check-in due", page.get_by_role("button", name="Continue"))
        assert page.get_by_role("heading", name="How are things 1 month after your concern closed?").is_visible()

        page.get_by_label("Yes").first.check()
        response = walk.click("check-in incomplete", page.get_by_role("button", name="Send my answers"))
        assert response.status == 400
        assert "Say whether you would speak up again." in page.locator(".nhsuk-error-summary").inner_text()

        page.get_by_role("group", name="Have you been treated badly because you spoke up?").get_by_label("Yes").check()
        page.get_by_label("If you have, what happened? (optional)").fill("Left off the rota since")
        page.get_by_role("group", name="Given your experience, would you speak up again?").get_by_label("Maybe").check()
        walk.click("check-in answered", page.get_by_role("button", name="Send my answers"))
        assert page.get_by_role("heading", name="How are things 1 month after your concern closed?").count() == 0
        case = Concern.objects.get(detriment_of=concern)
        assert case.reference in page.get_by_test_id("detriment-case").inner_text()
    finally:
        context.close()

    violations = _axe_violations(browser, walk.snapshots, dialogs)
    assert not dialogs
    assert not violations, "axe found violations:\n" + "\n".join(violations)
