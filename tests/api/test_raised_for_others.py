"""Concerns raised on behalf of others, and about a body other than the raiser's own.

A patient group or an advocate raises a concern for the people it represents: it says whom for, that
goes to those handling it at its origin and never up the route, and the concern runs on the clocks for
patients and the public. A concern goes to the organisation it is about, wherever the raiser works or is
treated; the raiser's own organisation is never asked, so it cannot be told. And a body a concern reaches
reads why it came, in words."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token

from backend.concerns import services
from backend.concerns.models import Clock, Concern
from backend.concerns.services.retention import CASE_FILE_FIELDS
from frontend.raise_journey import STEPS, steps_applying
from tests.support.concern_bodies import concern_body
from tests.support.raise_pages import answer_every_question, submission_key_on
from tests.support.sign_in import staff_client
from workflows.engine.policy import ClockKind

pytestmark = pytest.mark.django_db

FOR_WHOM = "FOR-WHOM-CANARY: the residents of a care home"


def _post(client: Client, url: str, body: object, **headers: str):  # type: ignore[no-untyped-def]
    return client.post(url, data=json.dumps(body), content_type="application/json", **headers)


def _auth(username: str) -> dict[str, str]:
    user = get_user_model().objects.get(username=username)
    return {"HTTP_AUTHORIZATION": f"Token {Token.objects.get_or_create(user=user)[0].key}"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"raiser_kind": "representative"}, "Say who you are raising the concern for"),
        ({"raiser_kind": "representative", "on_behalf_of": "   "}, "Say who you are raising the concern for"),
        ({"raiser_kind": "staff", "on_behalf_of": FOR_WHOM}, "Only someone raising a concern for others"),
    ],
)
def test_whom_it_is_for_is_asked_of_a_representative_alone(demo: None, change: dict[str, str], message: str) -> None:
    before = Concern.objects.count()
    refused = _post(Client(), "/api/v1/concerns/raise/", concern_body(**change))
    assert refused.status_code == 400
    assert message in " ".join(refused.json()["on_behalf_of"])
    assert Concern.objects.count() == before


def test_a_representative_raises_about_another_trust_and_whom_for_stays_at_the_origin(demo: None) -> None:
    # A patient group raises about the community trust's district nurses.
    raised = _post(
        Client(),
        "/api/v1/concerns/raise/",
        concern_body(unit="RCXDNE", raiser_kind="representative", on_behalf_of=FOR_WHOM, themes=["patient_safety"]),
    )
    assert raised.status_code == 201, raised.content
    reference = raised.json()["reference"]
    concern = Concern.objects.get(reference=reference)
    assert (concern.holder.code, concern.raiser_kind) == ("RCXDNE", "representative")
    assert "on_behalf_of" in CASE_FILE_FIELDS  # forgotten with the narrative when the case file goes

    # The clocks for patients and the public: acknowledge within 3 working days, not a member of staff's 7.
    acknowledge = Clock.objects.get(concern=concern, kind=ClockKind.ACKNOWLEDGE)
    assert acknowledge.due_at - concern.received_at <= timedelta(days=5)

    # Its own trust's guardian reads whom it is for, on the API and the case page.
    here = Client().get(f"/api/v1/concerns/{reference}/", **_auth("guardian-community"))
    assert here.status_code == 200
    assert here.json()["on_behalf_of"] == FOR_WHOM
    page = staff_client("guardian-community").get(f"/inbox/{reference}/").content.decode()
    assert FOR_WHOM in page and "Raising it for others (a patient group or advocate)" in page
    # The other trust's guardian finds nothing.
    assert Client().get(f"/api/v1/concerns/{reference}/", **_auth("guardian")).status_code == 404

    # Sent on to the board and then, by the sweep, to the integrated care board: upstream reads why it
    # came in words, and never whom it was raised for.
    guardian = get_user_model().objects.get(username="guardian-community")
    services.concern_acknowledge(concern_id=concern.pk, user=guardian)
    services.concern_escalate_by_guardian(concern_id=concern.pk, user=guardian, reason="The team lead is involved.")
    services.concern_escalate_by_guardian(concern_id=concern.pk, user=guardian, reason="The trust is involved.")
    services.clocks_fire_due(now=timezone.now() + timedelta(days=8))
    concern.refresh_from_db()
    assert concern.holder.code == "QNX"
    packet = Client().get(f"/api/v1/concerns/{reference}/", **_auth("icb-guardian"))
    assert packet.status_code == 200
    body = packet.json()
    assert body["view"] == "packet"
    assert "on_behalf_of" not in body and "FOR-WHOM-CANARY" not in packet.content.decode()
    assert [step["reason_label"] for step in body["escalations"]] == [
        "The guardian sent it on",
        "The guardian sent it on",
        "It was not acknowledged in time",
    ]
    upstream_page = staff_client("icb-guardian").get(f"/inbox/{reference}/").content.decode()
    assert "FOR-WHOM-CANARY" not in upstream_page
    assert "It was not acknowledged in time" in upstream_page
    assert "from Northshire Community Health Trust Board to NHS Northshire Integrated Care Board" in upstream_page


def test_the_raise_pages_ask_whom_for_only_of_a_representative(demo: None) -> None:
    slug = "for-whom"
    assert slug not in [s.slug for s in steps_applying({"raiser_kind": "staff"})]
    assert slug in [s.slug for s in steps_applying({"raiser_kind": "representative"})]
    assert any(s.slug == slug for s in STEPS)

    client = Client()
    # Left empty, the page says what to do and keeps the raiser on it.
    refused = answer_every_question(client, concern_body(raiser_kind="representative", on_behalf_of=""))
    assert refused is not None and refused.status_code == 400
    assert "Say who you are raising the concern for." in refused.content.decode()

    client = Client()
    assert answer_every_question(client, concern_body(raiser_kind="representative", on_behalf_of=FOR_WHOM)) is None
    check = client.get("/raise/check/").content.decode()
    assert "Who are you raising this concern for?" in check and FOR_WHOM in check
    # Changing "who are you?" drops the answer that no longer applies.
    client.post("/raise/who/", {"raiser_kind": "carer"})
    check = client.get("/raise/check/").content.decode()
    assert FOR_WHOM not in check
    sent = client.post("/raise/check/", {"submission_key": submission_key_on(client.get("/raise/check/"))})
    assert sent.status_code == 200 and "receipt" in sent.content.decode().lower()
    concern = Concern.objects.latest("pk")
    assert (concern.raiser_kind, concern.on_behalf_of) == ("carer", "")
