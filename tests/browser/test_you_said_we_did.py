"""'You said, we did' and lessons (issue 13 items 2 and 3) in a real browser with JavaScript off, by
visible labels, every page under axe afterwards: a guardian writes a summary (refused first for a
staff member's name), a second guardian approves it, and it is on the organisation's public page
because the quarter its concern closed in has ended; it is shared as a lesson, and a guardian of
another trust finds it by words and marks "we have this too"."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from playwright.sync_api import Browser

from backend.concerns import services
from backend.learning.models import Summary
from backend.learning.services import RAISER_NOTICE
from backend.organisations.models import Organisation, Role
from backend.oversight.figures import figures_rollup
from tests.browser.pages import sign_in_through_the_pages
from tests.browser.test_raise_and_follow_up import Walk, _axe_violations
from tests.support.factories import StaffFactory
from tests.support.sign_in import backup_code_for

SUMMARY = (
    "You told us night shifts on an acute ward were often left with one registered nurse. "
    "We now roster two registered nurses on every night shift and check the rota each week."
)


def _closed_last_quarter() -> str:
    """A concern about Ward 7, closed in the quarter before this one: its bucket has ended."""
    guardian = get_user_model().objects.get(username="guardian")
    closed = timezone.now() - timedelta(days=100)
    concern = services.concern_raise(
        draft=services.ConcernDraft(
            unit=Organisation.objects.get(code="RNX07"),
            raiser_kind="staff",
            identity_mode="anonymous",
            themes=["patient_safety"],
            what_happened="One nurse on nights",
        ),
        now=closed - timedelta(days=20),
    ).concern
    services.concern_acknowledge(concern_id=concern.pk, user=guardian, now=closed - timedelta(days=19))
    services.concern_give_feedback(
        concern_id=concern.pk, user=guardian, feedback="We changed the rota", now=closed - timedelta(days=1)
    )
    services.concern_close(concern_id=concern.pk, user=guardian, reason="Done", now=closed)
    return concern.reference


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_summary_written_approved_published_and_shared_without_javascript(
    browser: Browser, live_server: Any, demo: None
) -> None:
    users = get_user_model().objects
    users.filter(username="handler").update(first_name="Priya", last_name="Okafor")
    trust = Organisation.objects.get(code="RNX")
    deputy = StaffFactory(username="guardian-deputy", membership__role=Role.GUARDIAN, membership__organisation=trust)
    backup_code_for(deputy)  # a second factor to pass, as the demo's guardians have
    reference = _closed_last_quarter()
    figures_rollup()  # the public page answers for an organisation once it has figures

    dialogs: list[str] = []
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        walk = Walk(page, live_server.url, dialogs)

        # The guardian writes the summary from the case page; a staff member's name is refused.
        sign_in_through_the_pages(page, live_server.url, "guardian")
        walk.goto("case", f"/inbox/{reference}/")
        walk.click("summary", page.get_by_role("link", name="Write the public summary (you said, we did)"))
        page.get_by_label("What the concern raised and what changed").fill("Priya now checks the rota. " + SUMMARY)
        for label in ("It names nobody", "It gives no dates", "It names no place", "It mentions no role"):
            page.get_by_label(label).check()
        response = walk.click("summary refused", page.get_by_role("button", name="Save the summary"))
        assert response.status == 400
        assert "the name “Priya”" in page.locator(".nhsuk-error-summary").inner_text()
        page.get_by_label("What the concern raised and what changed").fill(SUMMARY)
        for label in ("It names nobody", "It gives no dates", "It names no place", "It mentions no role"):
            page.get_by_label(label).check()
        walk.click("summary saved", page.get_by_role("button", name="Save the summary"))
        assert "second guardian" in page.get_by_test_id("summary-state").inner_text()

        # The author cannot approve their own: the list says so and offers no button.
        walk.goto("awaiting, the author", "/you-said-we-did/")
        assert "You wrote this summary" in page.get_by_test_id("awaiting").inner_text()
        assert page.get_by_role("button", name=f"Approve the summary of {reference}").count() == 0
        context.clear_cookies()

        # The second guardian approves it.
        sign_in_through_the_pages(page, live_server.url, "guardian-deputy")
        walk.goto("awaiting", "/you-said-we-did/")
        walk.click("approved", page.get_by_role("button", name=f"Approve the summary of {reference}"))
        assert "No summaries are waiting for approval" in page.content()
        context.clear_cookies()
        # Not yet public: the raiser has their notice period to read it and object.
        walk.goto("public page (notice period)", "/figures/RNX/")
        assert SUMMARY not in page.content()
        # The notice period passes (time moves for the data, as it cannot for the live server's clock).
        approved = Summary.objects.get(concern__reference=reference)
        assert approved.publish_at > timezone.now()
        Summary.objects.filter(pk=approved.pk).update(publish_at=approved.publish_at - RAISER_NOTICE)

        # Public: the quarter the concern closed in has ended. Anyone reads it, never the reference.
        walk.goto("public page", "/figures/RNX/")
        published = page.get_by_test_id("you-said-we-did").inner_text()
        assert SUMMARY in published and reference not in page.content()
        screenshots = os.environ.get("CANDOUR_SCREENSHOTS")
        if screenshots:
            page.set_viewport_size({"width": 1280, "height": 900})
            page.goto(f"{live_server.url}/figures/RNX/#you-said-we-did")  # the anchor scrolls, no script
            page.screenshot(path=Path(screenshots) / "you-said-we-did.png", full_page=False)

        # The guardian shares it as a lesson.
        sign_in_through_the_pages(page, live_server.url, "guardian")
        walk.goto("summary published", f"/you-said-we-did/{reference}/")
        page.get_by_label("Lesson title").fill("Safer night staffing on acute wards")
        page.get_by_label("Patient safety or quality").check()
        page.get_by_label("Type of ward or team it came from").select_option(label="Acute or medical ward")
        walk.click("shared", page.get_by_role("button", name="Share as a lesson"))
        assert "Shared with other organisations" in page.content()
        context.clear_cookies()

        # A guardian of another trust finds it by words and marks "we have this too".
        sign_in_through_the_pages(page, live_server.url, "guardian-community")
        walk.goto("lessons", "/lessons/")
        page.get_by_label("Words").fill("rostering nurses")
        walk.click("lessons found", page.get_by_role("button", name="Search lessons"))
        lesson = page.get_by_test_id("lesson")
        assert lesson.count() == 1 and "Safer night staffing on acute wards" in lesson.inner_text()
        assert reference not in page.content()
        walk.click("marked", page.get_by_role("button", name="We have this too"))
        assert "Your organisation has this too" in page.content()
        assert page.get_by_test_id("marked").first.inner_text().startswith("1")
    finally:
        context.close()

    violations = _axe_violations(browser, walk.snapshots, dialogs)
    assert not dialogs
    assert not violations, "axe found violations:\n" + "\n".join(violations)
