"""The dashboard opens out: each organisation holding concerns links to its counts by the ward or team
the concerns are about. Counts only, the dashboard's own scope, and 404 outside it."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from backend.concerns import services
from backend.organisations.models import Organisation
from backend.oversight.figures import figures_rollup
from backend.oversight.selectors import oversight_dashboard, oversight_dashboard_drill
from tests.support.concern_bodies import concern_body
from tests.support.sign_in import staff_client

pytestmark = pytest.mark.django_db

WORDS = "DRILL-CANARY: nobody answered the call bell."


def _raise(code: str) -> int:
    body = concern_body(unit=Organisation.objects.get(code=code), what_happened=WORDS)
    return services.concern_raise(draft=services.ConcernDraft(**body)).concern.pk


def test_an_organisation_opens_out_by_unit_with_the_dashboard_s_own_counts(demo: None) -> None:
    guardian = get_user_model().objects.get(username="guardian")
    answered = _raise("RNX07")
    _raise("RNX07")
    _raise("RNXMAT")
    services.concern_acknowledge(concern_id=answered, user=guardian)
    # A week and more on: the unacknowledged ones breach and go up to the trust (RNX) with alerts.
    services.clocks_fire_due(now=timezone.now() + timedelta(days=9))
    figures_rollup()

    governor = get_user_model().objects.get(username="governor")
    dashboard = {row.organisation_code: row for row in oversight_dashboard(user=governor).rows}
    assert dashboard, "the breaches should show on the governor's dashboard"
    for code, row in dashboard.items():
        drill = oversight_dashboard_drill(user=governor, code=code)
        assert drill is not None
        # The units add up to the organisation's row.
        assert sum(r.open_escalations for r in drill.rows) == row.open_escalations
        assert sum(r.overdue_clocks for r in drill.rows) == row.overdue_clocks
        assert sum(r.open_alerts for r in drill.rows) == row.open_alerts
        assert {r.organisation_code for r in drill.rows} <= {"RNX07", "RNXMAT"}

    client = staff_client("governor")
    page = client.get("/oversight/").content.decode()
    codes = re.findall(r'href="/oversight/organisation/([^/"]+)/"', page)
    assert sorted(codes) == sorted(dashboard)
    drill_page = client.get(f"/oversight/organisation/{codes[0]}/")
    assert drill_page.status_code == 200
    body = drill_page.content.decode()
    assert "Ward 7, Acute Medicine" in body or "Maternity Unit" in body
    assert "DRILL-CANARY" not in body and "CN-" not in body  # counts only: no words, no references

    # The other trust's guardian, a patient group and an unknown code: nothing there for them.
    assert staff_client("guardian-community").get(f"/oversight/organisation/{codes[0]}/").status_code == 404
    assert staff_client("patient-group").get(f"/oversight/organisation/{codes[0]}/").status_code == 404
    assert client.get("/oversight/organisation/NOSUCH/").status_code == 404
