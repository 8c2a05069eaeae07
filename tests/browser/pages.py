"""What the browser tests share: axe (injected from the copy `make test` installs) and signing a
member of staff in through the pages, second factor and all."""

from __future__ import annotations

import os
from pathlib import Path

from django.contrib.auth import get_user_model
from playwright.sync_api import Page

from backend.organisations.demo import DEMO_PASSWORD
from tests.support.sign_in import backup_code_for

AXE_JS = Path(__file__).resolve().parents[2] / "frontend" / "static" / "vendor" / "axe.min.js"
# Where browser tests leave what a person would want to look at afterwards (screenshots of the pages):
# var/ is the checkout's own scratch folder, never committed; CI may point this elsewhere to keep them.
ARTIFACTS = Path(
    os.environ.get("CANDOUR_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "var" / "test-artifacts")
)
AXE_RUN = """async () => {
  const result = await axe.run();
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map(n => n.target.join(" ")),
  }));
}"""


def sign_in_through_the_pages(page: Page, base: str, username: str) -> None:
    """Password, then a fresh backup code where the role needs a second factor, as a person would type them."""
    page.goto(base + "/sign-in/")
    page.fill("#id_username", username)
    page.fill("#id_password", DEMO_PASSWORD)
    with page.expect_navigation():
        page.locator("form[action*=sign-in] button").click()
    if "/sign-in/code/" not in page.url:
        return  # a role that needs no second factor (a handler)
    page.fill("#code", backup_code_for(get_user_model().objects.get(username=username)))
    page.get_by_role("button", name="Continue").click()
