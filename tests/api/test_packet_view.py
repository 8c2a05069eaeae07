"""The escalation packet is the only view upstream: a body a concern was escalated to sees what
happened, when and what was done, through the API and the case page alike; never the conversation
with the raiser, never who raised it. Every demo role against every route that shows a case."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token

from backend.concerns import services
from backend.concerns.models import Concern, Event
from backend.organisations.demo import USERS
from backend.organisations.models import Organisation, Role
from tests.support.factories import StaffFactory
from tests.support.sign_in import staff_client

pytestmark = pytest.mark.django_db

ROLES = [username for username, _, _ in USERS]
NAME, CONTACT = "Raiser-Name-Canary", "canary-contact@example.org"
NARRATIVE = "The night rota left one nurse on ward 7."
DESIRED = "DESIRED-OUTCOME-CANARY"
# Words only the conversation between the raiser and the guardian at the origin holds.
CANARIES = ("TO-RAISER-CANARY", "FROM-RAISER-CANARY", "INFORMATION-CANARY", "DETRIMENT-CANARY")
IDENTITY = (NAME, CONTACT)

# Who sees what of a concern raised on ward RNX07 and escalated to the integrated care board (QNX):
# the case at its origin, the packet at the body it was escalated to, nothing (404) elsewhere.
AT_ORIGIN = {"guardian"}
UPSTREAM = {"icb-guardian"}


def _user(username: str) -> User:
    return get_user_model().objects.get(username=username)


def _api(username: str) -> Client:
    token = Token.objects.get_or_create(user=_user(username))[0].key
    return Client(HTTP_AUTHORIZATION=f"Token {token}")


def _page(username: str) -> Client:
    return staff_client(username)


def _escalated_to_the_icb(*, identity_shared: bool = False) -> Concern:
    """Raised on ward 7 (named), a conversation with the trust's guardian, escalated by hand to the
    trust and its board, then by the sweep (the board never acknowledged it) to the ICB."""
    concern = services.concern_raise(
        draft=services.ConcernDraft(
            unit=Organisation.objects.get(code="RNX07"),
            raiser_kind="staff",
            identity_mode="named",
            raiser_name=NAME,
            raiser_contact=CONTACT,
            themes=["patient_safety"],
            what_happened=NARRATIVE,
            desired_outcome=DESIRED,
        )
    ).concern
    if identity_shared:
        # No intake input asks the raiser this yet; the field is what the packet obeys.
        Concern.objects.filter(pk=concern.pk).update(identity_shared_on_escalation=True)
    guardian = _user("guardian")
    services.concern_message_to_raiser(concern_id=concern.pk, user=guardian, body="TO-RAISER-CANARY: which night?")
    services.concern_message_from_raiser(concern_id=concern.pk, body="FROM-RAISER-CANARY: Tuesday.")
    services.concern_message_from_raiser(concern_id=concern.pk, body="INFORMATION-CANARY", kind="information")
    services.concern_message_from_raiser(concern_id=concern.pk, body="DETRIMENT-CANARY", kind="detriment")
    services.concern_acknowledge(concern_id=concern.pk, user=guardian)
    services.concern_escalate_by_guardian(concern_id=concern.pk, user=guardian, reason="Ward manager conflicted.")
    services.concern_escalate_by_guardian(concern_id=concern.pk, user=guardian, reason="The trust is conflicted.")
    services.clocks_fire_due(now=timezone.now() + timedelta(days=8))
    concern.refresh_from_db()
    assert (concern.holder.code, concern.route_level) == ("QNX", 3)
    return concern


def _shows_nothing_private(body: str) -> None:
    for canary in (*CANARIES, *IDENTITY, DESIRED):
        assert canary not in body, canary


def test_the_integrated_care_board_gets_the_packet_through_the_api(demo: None) -> None:
    concern = _escalated_to_the_icb()
    response = _api("icb-guardian").get(f"/api/v1/concerns/{concern.reference}/")
    assert response.status_code == 200
    _shows_nothing_private(response.content.decode())
    packet = response.json()
    assert packet["view"] == "packet"
    assert "messages" not in packet
    # What happened, when, what was done.
    assert packet["what_happened"] == NARRATIVE
    assert packet["received_on"] == concern.received_on.isoformat()
    assert [(e["from"], e["to"], e["level"]) for e in packet["escalations"]] == [
        ("RNX07", "RNX", 1),
        ("RNX", "RNXB", 2),
        ("RNXB", "QNX", 3),
    ]
    kinds = [h["kind"] for h in packet["history"]]
    assert kinds[:2] == ["raised", "message_to_raiser"]
    assert {"acknowledge", "escalate", "detriment_reported", "clock_breached"} <= set(kinds)
    assert {c["kind"] for c in packet["clocks"]} >= {"acknowledge", "feedback"}


def test_the_guardian_at_the_origin_keeps_the_whole_case(demo: None) -> None:
    concern = _escalated_to_the_icb()
    response = _api("guardian").get(f"/api/v1/concerns/{concern.reference}/")
    assert response.status_code == 200
    case = response.json()
    assert case["view"] == "case"
    assert [m["body"].split(":")[0] for m in case["messages"]] == list(CANARIES)
    assert case["desired_outcome"] == DESIRED
    # Identity is never in the case view: only the audited identity look-up gives it.
    assert NAME not in response.content.decode()


def test_the_integrated_care_board_gets_the_packet_on_the_case_page(demo: None) -> None:
    concern = _escalated_to_the_icb()
    response = _page("icb-guardian").get(f"/inbox/{concern.reference}/")
    assert response.status_code == 200
    body = response.content.decode()
    _shows_nothing_private(body)
    assert NARRATIVE in body
    assert "escalated to you" in body


@pytest.mark.parametrize("username", ROLES)
def test_each_role_sees_the_case_the_packet_or_nothing_by_api_and_page(demo: None, username: str) -> None:
    concern = _escalated_to_the_icb()
    before = Event.objects.filter(concern=concern).count()
    api = _api(username).get(f"/api/v1/concerns/{concern.reference}/")
    page = _page(username).get(f"/inbox/{concern.reference}/")
    if username in AT_ORIGIN:
        assert (api.status_code, page.status_code) == (200, 200)
        assert api.json()["view"] == "case"
        for canary in CANARIES:
            assert canary in api.content.decode()
            assert canary in page.content.decode()
    elif username in UPSTREAM:
        assert (api.status_code, page.status_code) == (200, 200)
        assert api.json()["view"] == "packet"
        _shows_nothing_private(api.content.decode())
        _shows_nothing_private(page.content.decode())
    else:
        assert (api.status_code, page.status_code) == (404, 404), username
        assert NARRATIVE not in api.content.decode() + page.content.decode()
    for response in (api, page):
        for name in IDENTITY:
            assert name not in response.content.decode()
    assert Event.objects.filter(concern=concern).count() == before


def test_upstream_learns_who_raised_it_only_when_a_named_raiser_agreed(demo: None) -> None:
    withheld = _escalated_to_the_icb()
    shared = _escalated_to_the_icb(identity_shared=True)
    icb = _api("icb-guardian")
    assert icb.post(f"/api/v1/concerns/{withheld.reference}/identity/").status_code == 403
    answer = icb.post(f"/api/v1/concerns/{shared.reference}/identity/")
    assert answer.json() == {"name": NAME, "contact": CONTACT}
    # Even then the packet holds no identity and no conversation: the look-up is the audited way.
    _shows_nothing_private(icb.get(f"/api/v1/concerns/{shared.reference}/").content.decode())


def test_a_guardian_at_the_regulator_opens_the_packet_at_the_top_of_the_route(demo: None) -> None:
    concern = _escalated_to_the_icb()
    StaffFactory(
        username="regulator-guardian",
        membership__role=Role.GUARDIAN,
        membership__organisation=Organisation.objects.get(code="RGX"),
    )
    services.clocks_fire_due(now=timezone.now() + timedelta(days=16))
    concern.refresh_from_db()
    assert concern.holder.code == "RGX"
    for username in ("regulator-guardian",):
        api = _api(username).get(f"/api/v1/concerns/{concern.reference}/")
        page = _page(username).get(f"/inbox/{concern.reference}/")
        assert (api.status_code, page.status_code) == (200, 200)
        assert api.json()["view"] == "packet"
        _shows_nothing_private(api.content.decode() + page.content.decode())
    # The regulator's own role (no guardian membership) knows it exists, no more; the ICB has passed it on.
    for username in ("regulator", "icb-guardian"):
        assert _api(username).get(f"/api/v1/concerns/{concern.reference}/").status_code == 404
        assert _page(username).get(f"/inbox/{concern.reference}/").status_code == 404
