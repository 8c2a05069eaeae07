"""Access scoped by organisation: what each role may see, and a matrix of every role against every
concern endpoint on a concern of an organisation none of them belongs to: only 403 or 404."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework.authtoken.models import Token

from backend.concerns import services
from backend.concerns.models import Concern, Event
from backend.organisations.demo import USERS
from backend.organisations.models import Organisation
from tests.support.factories import WardFactory
from tests.support.sign_in import staff_client

pytestmark = pytest.mark.django_db

ROLES = [username for username, _, _ in USERS]


def _client(username: str) -> Client:
    user = get_user_model().objects.get(username=username)
    return Client(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")


def _raise(code: str, **extra: object) -> Concern:
    draft = services.ConcernDraft(
        unit=Organisation.objects.get(code=code),
        raiser_kind="staff",
        identity_mode="confidential",
        raiser_name="Canary Person",
        raiser_contact="07700 900123",
        themes=["behaviour"],
        what_happened="Narrative only handlers may read.",
        **extra,  # type: ignore[arg-type]
    )
    return services.concern_raise(draft=draft).concern


@pytest.fixture
def elsewhere(demo: None) -> Concern:
    """A concern in another integrated care system (a ward with its own trust, board, ICB and
    regulator) that no demo user belongs to, whose raiser let others follow its status."""
    concern = _raise(WardFactory().code)
    Concern.objects.filter(pk=concern.pk).update(status_shared=True)
    return concern


READS = ["/api/v1/concerns/{ref}/", "/api/v1/public/concerns/{ref}/"]
WRITES = [
    ("/api/v1/concerns/{ref}/acknowledge/", {}),
    ("/api/v1/concerns/{ref}/start-review/", {}),
    ("/api/v1/concerns/{ref}/feedback/", {"feedback": "x"}),
    ("/api/v1/concerns/{ref}/close/", {"reason": "x"}),
    ("/api/v1/concerns/{ref}/reopen/", {}),
    ("/api/v1/concerns/{ref}/messages/", {"body": "x"}),
    ("/api/v1/concerns/{ref}/assign/", {"handler": "handler"}),
    ("/api/v1/concerns/{ref}/identity/", {}),
]


@pytest.mark.parametrize("username", ROLES)
def test_no_role_reaches_a_concern_of_another_organisation(elsewhere: Concern, username: str) -> None:
    client = _client(username)
    before = Event.objects.filter(concern=elsewhere).count()
    for url in READS:
        response = client.get(url.format(ref=elsewhere.reference))
        if username == "patient-group" and "public" in url:
            # Patient groups follow any concern whose raiser shared its reference: status only.
            assert response.status_code == 200
            assert set(response.json()) == {"reference", "state", "route_level", "holder", "received_on"}
            continue
        assert response.status_code in (403, 404), (username, url, response.status_code)
    for url, body in WRITES:
        response = client.post(url.format(ref=elsewhere.reference), json.dumps(body), content_type="application/json")
        assert response.status_code in (403, 404), (username, url, response.status_code)
    for listing in ("/api/v1/concerns/", "/api/v1/oversight/concerns/"):
        assert elsewhere.reference not in client.get(listing).content.decode()
    assert Event.objects.filter(concern=elsewhere).count() == before


@pytest.mark.parametrize("username", ROLES)
def test_no_role_opens_the_case_page_of_a_concern_of_another_organisation(elsewhere: Concern, username: str) -> None:
    """The pages as well as the API: the case page and its moves answer 404, never the contents.
    (Who sees the case, the escalation packet or nothing of a concern in their own system:
    tests/api/test_packet_view.py.)"""
    client = staff_client(username)
    before = Event.objects.filter(concern=elsewhere).count()
    page = client.get(f"/inbox/{elsewhere.reference}/")
    assert page.status_code == 404, (username, page.status_code)
    assert "Narrative only handlers may read." not in page.content.decode()
    for action in ("acknowledge", "message", "escalate", "close"):
        response = client.post(f"/inbox/{elsewhere.reference}/{action}/", {"text": "x"})
        assert response.status_code == 404, (username, action, response.status_code)
    assert Event.objects.filter(concern=elsewhere).count() == before


def _listed(username: str, url: str) -> set[str]:
    return {c["reference"] for c in _client(username).get(url).json()["results"]}


def test_each_role_sees_what_the_domain_allows(demo: None) -> None:
    ward = _raise("RNX07")
    community = _raise("RCXDNE")
    handling = "/api/v1/concerns/"
    oversight = "/api/v1/oversight/concerns/"
    assert _listed("guardian", handling) == {ward.reference}
    assert _listed("guardian-community", handling) == {community.reference}
    # A handler sees only what the guardian placed with them.
    assert _listed("handler", handling) == set()
    guardian = get_user_model().objects.get(username="guardian")
    handler = get_user_model().objects.get(username="handler")
    services.concern_assign(concern_id=ward.pk, user=guardian, handler=handler)
    assert _listed("handler", handling) == {ward.reference}
    # Governors and commissioners know concerns exist; they handle none and read no narrative.
    assert _listed("governor", handling) == set()
    assert _listed("governor", oversight) == {ward.reference}
    assert _listed("commissioner", oversight) == {ward.reference, community.reference}
    assert "what_happened" not in _client("commissioner").get(oversight).json()["results"][0]
    assert _listed("regulator", oversight) == set()
    assert _listed("patient-group", handling) == _listed("patient-group", oversight) == set()
    assert _listed("admin", handling) == set()


def test_only_the_guardian_sees_a_confidential_identity_and_each_look_is_audited(demo: None) -> None:
    concern = _raise("RNX07")
    guardian = get_user_model().objects.get(username="guardian")
    handler = get_user_model().objects.get(username="handler")
    services.concern_assign(concern_id=concern.pk, user=guardian, handler=handler)
    url = f"/api/v1/concerns/{concern.reference}/identity/"
    assert _client("handler").post(url).status_code == 403
    response = _client("guardian").post(url)
    assert response.json() == {"name": "Canary Person", "contact": "07700 900123"}
    assert Event.objects.filter(concern=concern, kind="identity_viewed").count() == 1
    # The identity never appears in the case view, even for the guardian.
    assert "Canary Person" not in _client("guardian").get(f"/api/v1/concerns/{concern.reference}/").content.decode()
