"""A raiser lets others follow their concern's status by its reference (a patient group, an advocate,
family): off until they turn it on, audited, status only, and no sign-in for the follower."""

from __future__ import annotations

import pytest
from django.test import Client

from backend.concerns import services
from backend.concerns.models import Concern, Event
from backend.organisations.models import Organisation
from tests.support.concern_bodies import concern_body
from tests.support.raise_pages import raise_on_the_web
from tests.support.sign_in import api_client
from workflows.engine.vocabulary import EventKind

pytestmark = pytest.mark.django_db

WORDS = "SHARED-CANARY: the ward's fire doors are chained."


def _raised() -> tuple[Client, Concern, str]:
    raiser = Client()
    page = raise_on_the_web(raiser, concern_body(what_happened=WORDS))
    receipt = page.content.decode().split('data-testid="receipt">')[1].split("<")[0]
    concern = Concern.objects.latest("pk")
    raiser.post("/follow-up/", {"receipt": receipt})
    return raiser, concern, receipt


def test_nobody_follows_a_concern_until_its_raiser_chooses_and_then_sees_status_only(demo: None) -> None:
    raiser, concern, receipt = _raised()
    follower = Client()
    before = follower.get("/follow/", {"reference": concern.reference})
    assert before.status_code == 404 and "No concern can be followed with this reference" in before.content.decode()
    assert api_client("patient-group").get(f"/api/v1/public/concerns/{concern.reference}/").status_code == 404

    page = raiser.get("/follow-up/concern/").content.decode()
    assert "Let others follow its status" in page
    assert raiser.post("/follow-up/concern/share/", {"shared": "true"}).status_code == 302
    concern.refresh_from_db()
    assert concern.status_shared is True
    assert Event.objects.filter(concern=concern, kind=EventKind.STATUS_SHARED).count() == 1
    assert "You let others follow its status with the reference" in raiser.get("/follow-up/concern/").content.decode()

    shown = follower.get("/follow/", {"reference": concern.reference.lower()})
    body = shown.content.decode()
    assert shown.status_code == 200 and concern.reference in body and "Received" in body
    assert WORDS not in body and receipt not in body
    api = api_client("patient-group").get(f"/api/v1/public/concerns/{concern.reference}/")
    assert api.status_code == 200 and set(api.json()) == {"reference", "state", "route_level", "holder", "received_on"}

    # Sharing again changes nothing; stopping hides it again, and is recorded.
    raiser.post("/follow-up/concern/share/", {"shared": "true"})
    assert Event.objects.filter(concern=concern, kind=EventKind.STATUS_SHARED).count() == 1
    raiser.post("/follow-up/concern/share/", {"shared": "false"})
    assert follower.get("/follow/", {"reference": concern.reference}).status_code == 404
    assert Event.objects.filter(concern=concern, kind=EventKind.STATUS_UNSHARED).count() == 1


def test_a_bad_answer_is_a_clear_400_and_the_page_without_a_reference_asks_for_one(demo: None) -> None:
    raiser, concern, _ = _raised()
    refused = raiser.post("/follow-up/concern/share/", {"shared": "perhaps"})
    assert refused.status_code == 400
    concern.refresh_from_db()
    assert concern.status_shared is False
    empty = Client().get("/follow/")
    assert empty.status_code == 200 and "The concern's reference" in empty.content.decode()


def test_the_service_is_the_one_write_path(demo: None) -> None:
    body = concern_body(unit=Organisation.objects.get(code="RNX07"))
    concern = services.concern_raise(draft=services.ConcernDraft(**body)).concern
    assert services.concern_status_share(concern_id=concern.pk, shared=True).status_shared is True
