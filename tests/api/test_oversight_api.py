"""Oversight figures over the API: public figures open to anyone and identifying no one; the governors'
dashboard for signed-in overseers, within what they oversee."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework.authtoken.models import Token

from backend.api import oversight_views
from backend.concerns import services
from backend.concerns.models import Concern
from backend.organisations.models import Organisation
from backend.oversight import selectors
from backend.oversight.figures import figures_rollup
from backend.oversight.models import Alert
from tests.support.factories import ConcernFactory

pytestmark = pytest.mark.django_db

START = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)


def token_for(username: str) -> dict[str, str]:
    user = get_user_model().objects.get(username=username)
    return {"HTTP_AUTHORIZATION": f"Token {Token.objects.get_or_create(user=user)[0].key}"}


def _fold() -> None:
    """The services recorded the figures as they went; the rollup (a beat task) folds them."""
    figures_rollup()


@pytest.fixture
def world(demo: None) -> list[Concern]:
    guardian = get_user_model().objects.get(username="guardian")
    ward = Organisation.objects.get(code="RNX07")
    canary = {"identity_mode": "named", "raiser_name": "Raiser Canary", "what_happened": "NARRATIVE-CANARY"}
    concerns = []
    for i in range(7):
        moment = START + timedelta(hours=i)
        with time_machine.travel(moment, tick=False):
            concerns.append(ConcernFactory(unit=ward, themes=["bullying"], **canary, now=moment))
    for concern in concerns[:5]:
        services.concern_acknowledge(concern_id=concern.pk, user=guardian, now=START + timedelta(days=2, hours=12))
    with time_machine.travel(START + timedelta(days=8), tick=False):
        services.clocks_fire_due(now=START + timedelta(days=8))
    with time_machine.travel(START, tick=False):
        ConcernFactory(
            unit=Organisation.objects.get(code="RCXDNE"),
            raiser_kind="patient",
            themes=["other"],
            what_happened="NARRATIVE-CANARY",
            now=START,
        )
    _fold()
    return concerns


def _no_one_in(body: str, concerns: list[Concern]) -> None:
    for secret in ["NARRATIVE-CANARY", "Raiser Canary", "guardian", "handler"]:
        assert secret not in body
    for concern in Concern.objects.all():
        assert concern.reference not in body


def test_public_figures_need_no_sign_in_and_identify_no_one(world: list[Concern]) -> None:
    client = Client()
    answer = client.get("/api/v1/public/figures/")
    assert answer.status_code == 200, answer.content
    assert answer["Cache-Control"] == "public, max-age=30"
    body = answer.json()
    assert body["quarter"] == "2026-01-01"
    assert body["quarter_label"] == "January to March 2026"
    assert body["quarters"] == ["2026-01-01"]
    by_code = {row["organisation"]: row for row in body["organisations"]}
    assert set(by_code) == {"RNX", "RCX"}
    rnx = by_code["RNX"]
    assert rnx["concerns_received"] == {"value": 7.0, "display": "7", "withheld": False}
    # 5 of 7 acknowledged in time leaves 2 late: a small count, so the rate is withheld.
    assert rnx["acknowledged_in_time"] == {"value": None, "display": "withheld", "withheld": True}
    assert rnx["median_days_to_acknowledge"]["display"] == "2 days"
    assert rnx["feedback_in_time"]["display"] == "not applicable"
    assert by_code["RCX"]["concerns_received"] == {"value": None, "display": "fewer than 5", "withheld": True}
    assert by_code["RCX"]["median_days_to_acknowledge"]["display"] == "not applicable"
    _no_one_in(answer.content.decode(), world)

    one = client.get("/api/v1/public/figures/RNX/")
    assert one.status_code == 200
    assert one.json()["organisation_name"] == "Northshire Hospitals NHS Foundation Trust"
    assert [q["quarter"] for q in one.json()["quarters"]] == ["2026-01-01"]
    _no_one_in(one.content.decode(), world)


def test_public_figures_ignore_credentials_and_refuse_bad_input_clearly(world: list[Concern]) -> None:
    client = Client()
    # No authentication runs at all: a bad token is not even looked at, a good one changes nothing.
    assert client.get("/api/v1/public/figures/", HTTP_AUTHORIZATION="Token nonsense").status_code == 200
    assert (
        client.get("/api/v1/public/figures/", **token_for("guardian")).json()
        == client.get("/api/v1/public/figures/").json()
    )
    bad = client.get("/api/v1/public/figures/?quarter=2026-02-01")
    assert bad.status_code == 400
    assert "quarter" in bad.json()
    empty = client.get("/api/v1/public/figures/?quarter=2025-10-01").json()
    assert (empty["quarter"], empty["organisations"]) == ("2025-10-01", [])
    assert client.get("/api/v1/public/figures/NOPE/").status_code == 404
    assert client.post("/api/v1/public/figures/", {}).status_code == 405


def test_the_dashboard_is_for_overseers_and_scoped(world: list[Concern]) -> None:
    client = Client()
    assert client.get("/api/v1/oversight/dashboard/").status_code == 401
    governor = client.get("/api/v1/oversight/dashboard/", **token_for("governor"))
    assert governor.status_code == 200
    body = governor.json()
    rows = {row["organisation"]: row for row in body["rows"]}
    # Two concerns never acknowledged went up to the trust on day 8.
    assert rows["RNX"]["open_escalations"] == 2
    assert body["open_escalations"] == 2
    assert body["open_alerts"] == Alert.objects.filter(resolved_at__isnull=True, concern__unit__code="RNX07").count()
    assert "RCX" not in rows and "RCXDNE" not in rows  # not the trust this board governs
    _no_one_in(governor.content.decode(), world)

    commissioner = client.get("/api/v1/oversight/dashboard/", **token_for("commissioner")).json()
    assert commissioner["open_escalations"] == 2
    for outsider in ("handler", "patient-group", "regulator"):
        answer = client.get("/api/v1/oversight/dashboard/", **token_for(outsider)).json()
        assert (answer["rows"], answer["open_escalations"], answer["open_alerts"]) == ([], 0, 0), outsider


def test_the_fast_public_bodies_match_their_serializers(world: list[Concern]) -> None:
    figures = selectors.public_figures_by_quarter()
    assert oversight_views.public_quarter_json(figures) == oversight_views.PublicQuarterOutput(figures).data
    one = selectors.public_figures_for_organisation(code="RNX")
    assert one is not None
    assert oversight_views.public_organisation_json(one) == oversight_views.PublicOrganisationOutput(one).data
    empty = selectors.public_figures_by_quarter(quarter=date(2025, 10, 1))
    assert oversight_views.public_quarter_json(empty) == oversight_views.PublicQuarterOutput(empty).data


def test_the_schema_documents_the_figures(demo: None) -> None:
    schema = Client().get("/api/schema/", HTTP_ACCEPT="application/json").json()
    paths = schema["paths"]
    assert {"/api/v1/public/figures/", "/api/v1/public/figures/{code}/", "/api/v1/oversight/dashboard/"} <= set(paths)
    assert not paths["/api/v1/public/figures/"]["get"].get("security") or paths["/api/v1/public/figures/"]["get"][
        "security"
    ] == [{}]
