"""Placing a concern raised by text (issue 14 item 4): its guardian says which ward or team it is
about and who raised it, and its clocks run under the policy's rule for that raiser and theme,
counted from when the text arrived. Texts arrive as the Twilio webhook and the worker would
deliver them (tests/integration/test_sms_conversation.py); the service, the API and the case page
are each exercised for real."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.contrib.auth import get_user_model

from backend.concerns import services
from backend.concerns.models import Clock, ClockStatus, Concern, Event
from backend.concerns.services.sweep import clocks_fire_due
from backend.concerns.sms import sms_inbound_process, sms_inbound_store
from backend.errors import Conflict, Forbidden
from backend.organisations.models import Organisation
from tests.support.factories import ConcernFactory
from tests.support.sign_in import api_client, staff_client
from workflows.engine.vocabulary import EventKind, RaiserKind, Theme

pytestmark = pytest.mark.django_db

TRUST_NUMBER = "+447700900101"  # RNX in the demo
TEXTED = datetime(2025, 12, 1, 10, 20, tzinfo=UTC)  # a Monday; anonymous, so kept as 10:00
PLACED = datetime(2025, 12, 3, 9, 0, tzinfo=UTC)  # the Wednesday after


def sms_concern(*, sid: str = "SMPLACE1", at: datetime = TEXTED) -> Concern:
    inbound_id = sms_inbound_store(
        message_sid=sid, from_number="+447700900777", to_number=TRUST_NUMBER, body="Ward 7 short again", now=at
    )
    assert inbound_id is not None
    sms_inbound_process(inbound_id=inbound_id, now=at)
    return Concern.objects.select_related("unit").get(channel="sms")


def user(username: str) -> object:
    return get_user_model().objects.get(username=username)


def running(concern: Concern) -> dict[str, Clock]:
    return {c.kind: c for c in Clock.objects.filter(concern=concern, status=ClockStatus.PENDING)}


def place(concern: Concern, *, by: str = "guardian", unit: str = "RNX07", **kwargs: object) -> Concern:
    arguments: dict[str, object] = {"raiser_kind": RaiserKind.PATIENT, "themes": [Theme.PATIENT_SAFETY], **kwargs}
    return services.concern_sms_place(
        concern_id=concern.pk,
        user=user(by),  # type: ignore[arg-type]
        unit=Organisation.objects.get(code=unit),
        now=PLACED,
        **arguments,  # type: ignore[arg-type]
    )


def test_a_text_starts_on_staff_clocks_and_placing_it_sets_the_patient_clock_from_receipt(demo: None) -> None:
    concern = sms_concern()
    before = running(concern)
    assert (concern.unit.code, concern.raiser_kind, concern.themes) == ("RNX", "staff", ["other"])
    # Staff: 7 calendar days from receipt (kept to the hour for an anonymous raiser).
    assert before["acknowledge"].due_at == datetime(2025, 12, 8, 10, 0, tzinfo=UTC)

    placed = place(concern)

    assert (placed.unit.code, placed.raiser_kind, placed.themes) == ("RNX07", "patient", ["patient_safety"])
    after = running(concern)
    # A patient: 3 working days, counted from receipt, not from placing (Mon 10:00 -> Thu 10:00).
    assert after["acknowledge"].due_at == datetime(2025, 12, 4, 10, 0, tzinfo=UTC)
    assert after["acknowledge"].started_at == before["acknowledge"].started_at
    assert after["acknowledge"].pk != before["acknowledge"].pk
    assert Clock.objects.get(pk=before["acknowledge"].pk).status == ClockStatus.STOPPED
    assert set(after) == {"acknowledge", "feedback", "inactivity"}
    # The feedback clock still counts from its fallback after receipt (not yet acknowledged).
    assert after["feedback"].due_at == before["feedback"].due_at
    event = Event.objects.filter(concern=concern).order_by("-seq").first()
    assert event is not None and event.kind == EventKind.PLACED
    assert event.get_kind_display() == "Placed on a ward or team"
    assert event.data["from"] == "RNX" and event.data["to"] == "RNX07"
    assert event.data["raiser_kind"] == "patient" and event.data["was"]["raiser_kind"] == "staff"


def test_a_deadline_already_passed_when_placed_fires_at_the_next_sweep(demo: None) -> None:
    concern = sms_concern()
    late = datetime(2025, 12, 5, 9, 0, tzinfo=UTC)  # past the patient's Thursday, before staff's Monday
    services.concern_sms_place(
        concern_id=concern.pk,
        user=user("guardian"),  # type: ignore[arg-type]
        unit=Organisation.objects.get(code="RNX07"),
        raiser_kind=RaiserKind.CARER,
        themes=[Theme.BEHAVIOUR],
        now=late,
    )
    clocks_fire_due(now=late)
    breached = Clock.objects.get(concern=concern, kind="acknowledge", status=ClockStatus.FIRED)
    assert breached.due_at == datetime(2025, 12, 4, 10, 0, tzinfo=UTC)
    assert Event.objects.filter(concern=concern, kind=EventKind.CLOCK_BREACHED).exists()


def test_only_its_guardian_places_it_once_on_one_of_its_own_units(demo: None) -> None:
    concern = sms_concern()
    with pytest.raises(Forbidden):
        place(concern, by="handler")
    with pytest.raises(Forbidden):
        place(concern, unit="RCXDNE")  # another trust's team
    with pytest.raises(Forbidden):
        place(concern, by="icb-guardian")  # further up the route
    place(concern)
    with pytest.raises(Conflict):
        place(concern, unit="RNXMAT")
    web = ConcernFactory.create(unit=Organisation.objects.get(code="RNX07"))
    with pytest.raises(Conflict):
        place(web)
    assert Event.objects.filter(kind=EventKind.PLACED).count() == 1


def test_the_api_places_it_and_refuses_with_clear_words(demo: None) -> None:
    concern = sms_concern()
    url = f"/api/v1/concerns/{concern.reference}/place/"
    body = {"unit": "RNX07", "raiser_kind": "carer", "themes": ["bullying", "behaviour"]}
    guardian = api_client("guardian")
    bad = guardian.post(url, {"unit": "NOPE", "raiser_kind": "alien", "themes": []}, content_type="application/json")
    assert bad.status_code == 400
    assert set(bad.json()) >= {"unit", "raiser_kind", "themes"} or "unit" in str(bad.json())
    assert api_client("handler").post(url, body, content_type="application/json").status_code in (403, 404)
    answer = guardian.post(url, body, content_type="application/json")
    assert answer.status_code == 200, answer.content
    assert (answer.json()["unit"], answer.json()["raiser_kind"]) == ("RNX07", "carer")
    assert answer.json()["themes"] == ["behaviour", "bullying"]
    assert guardian.post(url, body, content_type="application/json").status_code == 409


def test_the_case_page_offers_placing_only_while_an_sms_concern_is_unplaced(demo: None) -> None:
    concern = sms_concern()
    page = staff_client("guardian")
    case = f"/inbox/{concern.reference}/"
    assert 'data-testid="place-form"' in page.get(case).content.decode()
    assert 'data-testid="place-form"' not in staff_client("handler").get(case).content.decode()
    refused = page.post(f"{case}place/", {"unit": "RNX07", "raiser_kind": "patient"})
    assert refused.status_code == 400
    assert "Choose at least one thing the concern is about." in refused.content.decode()
    done = page.post(f"{case}place/", {"unit": "RNX07", "raiser_kind": "public", "themes": ["worker_safety"]})
    assert done.status_code == 302
    concern.refresh_from_db()
    assert (concern.unit.code, concern.raiser_kind, concern.themes) == ("RNX07", "public", ["worker_safety"])
    shown = page.get(case).content.decode()
    assert 'data-testid="place-form"' not in shown
    assert "Placed on a ward or team" in shown
    web = ConcernFactory.create(unit=Organisation.objects.get(code="RNX07"))
    assert 'data-testid="place-form"' not in page.get(f"/inbox/{web.reference}/").content.decode()
