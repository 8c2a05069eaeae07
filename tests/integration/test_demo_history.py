"""`make run`'s demo history: two years of concerns moved as staff would, and the three changes early
warning is there to catch, signalled at once for the governor."""

from __future__ import annotations

import pytest

from backend.concerns.audit import BrokenLink, audit_verify
from backend.concerns.models import Concern
from backend.oversight.demo import demo_history_seed
from backend.oversight.models import Indicator, Signal, WeeklyCount
from tests.support.sign_in import api_client

pytestmark = pytest.mark.django_db


def test_the_demo_history_shows_a_rise_a_ward_gone_quiet_and_a_trust_unheard(demo: None) -> None:
    raised = demo_history_seed()
    assert raised > 400 and Concern.objects.count() == raised
    assert WeeklyCount.objects.filter(measure="w_received", theme="").count() > 300  # weeks x wards
    opened = {(s.unit.code, s.theme, s.kind) for s in Signal.objects.select_related("unit")}
    assert ("RNX07", "", "rise") in opened and ("RCXDNE", "", "quiet") in opened
    assert ("RNX", "", "shift") in opened, "most who spoke up at Northshire last month would not again"
    assert Signal.objects.get(kind="shift").measure == "w_no_speak_again"
    assert not any(code in ("RNXMAT", "RCXMHC", "RCX") for code, _, _ in opened), "steady ones signal nothing"
    listed = api_client("governor").get("/api/v1/signals/").json()["results"]
    assert {x["unit"] for x in listed} == {"RNX07", "RNX"}  # the governor of the hospital trust sees its own
    # Other indicators to read beside them: complaints each month, the staff survey each autumn.
    assert Indicator.objects.filter(name="complaints", organisation__code="RNX").count() >= 24
    assert Indicator.objects.filter(name="staff_survey_secure_raising").count() >= 4
    assert [b for b in audit_verify() if isinstance(b, BrokenLink)] == []
    assert demo_history_seed() == 0  # once
