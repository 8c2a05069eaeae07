"""Only oversight resolves a sidelining alert: a governor, commissioner or regulator overseeing the
concern. The guardian and handler a sidelining alert is about never can, through the API or the pages."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework.authtoken.models import Token

from backend.concerns import services
from backend.concerns.models import Concern
from backend.organisations.models import Membership, Organisation, Role
from backend.oversight.models import Alert
from tests.support.concern_bodies import concern_body
from tests.support.sign_in import staff_client

pytestmark = pytest.mark.django_db

RAISE = concern_body(raiser_kind="staff", themes=["behaviour"], what_happened="My shifts were cut after I spoke up.")


def _api(username: str) -> Client:
    user = get_user_model().objects.get(username=username)
    return Client(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")


def _post(client: Client, url: str, body: object) -> int:
    return client.post(url, json.dumps(body), content_type="application/json").status_code


def _page(username: str) -> Client:
    return staff_client(username)


def _alert_on_a_placed_concern() -> Alert:
    """A ward concern the guardian placed with the handler, whose raiser reports detriment."""
    raised = json.loads(
        Client().post("/api/v1/concerns/raise/", json.dumps(RAISE), content_type="application/json").content
    )
    users = get_user_model().objects
    concern_id = Concern.objects.get(reference=raised["reference"]).pk
    services.concern_assign(
        concern_id=concern_id, user=users.get(username="guardian"), handler=users.get(username="handler")
    )
    detriment = {"receipt": raised["receipt"], "body": "I lost shifts", "kind": "detriment"}
    Client().post("/api/v1/follow-up/messages/", json.dumps(detriment), content_type="application/json")
    return Alert.objects.get(concern_id=concern_id, rule="detriment")


def test_the_guardian_and_handler_alerted_about_see_the_alert_but_never_resolve_it(demo: None) -> None:
    alert = _alert_on_a_placed_concern()
    url = f"/api/v1/alerts/{alert.pk}/resolve/"
    for handling in ("guardian", "handler"):
        listed = _api(handling).get("/api/v1/alerts/").json()["results"]
        assert [a["id"] for a in listed] == [alert.pk]
        assert _post(_api(handling), url, {"reason": "Dealt with it myself."}) == 403
    alert.refresh_from_db()
    assert alert.resolved_at is None
    # The governor of the trust's board oversees it, and resolves it.
    assert _post(_api("governor"), url, {"reason": "Spoke to the ward manager."}) == 200
    alert.refresh_from_db()
    assert (alert.resolved_by.username, alert.resolution) == ("governor", "Spoke to the ward manager.")


def test_the_commissioner_of_the_provider_resolves_and_the_regulator_knows_nothing_of_it(demo: None) -> None:
    alert = _alert_on_a_placed_concern()
    url = f"/api/v1/alerts/{alert.pk}/resolve/"
    assert _post(_api("regulator"), url, {"reason": "x"}) == 404  # not escalated to them
    assert _post(_api("commissioner"), url, {"reason": "Raised with the trust."}) == 200


def test_an_overseer_who_also_handles_the_concern_does_not_resolve_its_alerts(demo: None) -> None:
    alert = _alert_on_a_placed_concern()
    governor = get_user_model().objects.get(username="governor")
    Membership.objects.create(user=governor, organisation=Organisation.objects.get(code="RNX"), role=Role.GUARDIAN)
    assert _post(_api("governor"), f"/api/v1/alerts/{alert.pk}/resolve/", {"reason": "Mine to close."}) == 403
    alert.refresh_from_db()
    assert alert.resolved_at is None


def test_the_alerts_page_offers_the_resolve_form_only_to_those_who_may_resolve(demo: None) -> None:
    alert = _alert_on_a_placed_concern()
    form = f'action="/oversight/alerts/{alert.pk}/resolve/"'
    guardian_page = _page("guardian").get("/oversight/alerts/").content.decode()
    assert alert.concern.reference in guardian_page
    assert form not in guardian_page
    assert form in _page("governor").get("/oversight/alerts/").content.decode()

    refused = _page("guardian").post(f"/oversight/alerts/{alert.pk}/resolve/", {"reason": "Dealt with it."})
    assert refused.status_code == 403
    assert "Only a governor, commissioner or regulator" in refused.content.decode()
    alert.refresh_from_db()
    assert alert.resolved_at is None
    resolved = _page("governor").post(f"/oversight/alerts/{alert.pk}/resolve/", {"reason": "Seen to."})
    assert resolved.status_code == 302
    alert.refresh_from_db()
    assert alert.resolved_at is not None


def test_the_alerts_page_keeps_each_alert_s_history_who_resolved_it_when_and_why(demo: None) -> None:
    alert = _alert_on_a_placed_concern()
    governor = _page("governor")
    before = governor.get("/oversight/alerts/").content.decode()
    assert "No alert was resolved in the last 90 days." in before
    resolved = governor.post(f"/oversight/alerts/{alert.pk}/resolve/", {"reason": "HISTORY-CANARY: shifts restored"})
    assert resolved.status_code == 302
    for reader in ("governor", "guardian"):  # the guardian it was about reads the history too
        page = _page(reader).get("/oversight/alerts/").content.decode()
        history = page.split('data-testid="resolved-alerts"')[1].split("</table>")[0]
        assert alert.concern.reference in history and "Raiser reports detriment" in history
        assert "HISTORY-CANARY: shifts restored" in history and "governor" in history
    # Someone who does not oversee the concern reads nothing of it.
    other = _page("guardian-community").get("/oversight/alerts/").content.decode()
    assert alert.concern.reference not in other and "HISTORY-CANARY" not in other
