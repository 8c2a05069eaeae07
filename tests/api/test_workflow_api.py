"""Escalation by hand, pausing deadlines, the raiser's own escalation and alerts, through the API."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token

from backend.concerns.models import Clock, Concern, Event, Reason
from backend.oversight.models import Alert
from tests.support.concern_bodies import concern_body

pytestmark = pytest.mark.django_db

RAISE = concern_body(raiser_kind="patient", themes=["other"], what_happened="Buzzers go unanswered at night.")


def api(username: str | None = None) -> Client:
    if username is None:
        return Client()
    user = get_user_model().objects.get(username=username)
    return Client(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")


def post(client: Client, url: str, body: object = None):  # type: ignore[no-untyped-def]
    return client.post(url, json.dumps(body or {}), content_type="application/json")


def test_a_guardian_pauses_resumes_and_escalates_with_reasons(demo: None) -> None:
    raised = post(api(), "/api/v1/concerns/raise/", RAISE).json()
    base = f"/api/v1/concerns/{raised['reference']}"
    guardian, handler = api("guardian"), api("handler")
    assert post(guardian, f"{base}/pause/", {}).status_code == 400  # a pause needs a reason
    assert post(guardian, f"{base}/pause/", {"reason": "waiting for rota"}).status_code == 200
    concern = Concern.objects.get(reference=raised["reference"])
    assert all(c.paused_at for c in Clock.objects.filter(concern=concern, status="pending"))
    assert post(guardian, f"{base}/resume/").status_code == 200
    assert not any(c.paused_at for c in Clock.objects.filter(concern=concern, status="pending"))
    assert post(handler, f"{base}/escalate/", {"reason": "x"}).status_code == 404  # not placed with them
    response = post(guardian, f"{base}/escalate/", {"reason": "conflict of interest"})
    assert response.status_code == 200
    assert response.json()["holder"] == "RNX"  # the ward escalates to its trust
    event = Event.objects.get(concern=concern, kind="escalate")
    assert event.data["reason"] == "guardian_escalated"
    # The guardian's words are kept encrypted beside the event; the event holds their keyed digest.
    assert Reason.objects.get(concern=concern, seq=event.seq).text == "conflict of interest"
    assert "conflict of interest" not in str(event.data)
    assert [e.kind for e in Event.objects.filter(concern=concern).order_by("seq")] == [
        "raised",
        "clocks_paused",
        "clocks_resumed",
        "escalate",
    ]


def test_the_raiser_escalates_only_after_the_feedback_deadline(demo: None) -> None:
    raised = post(api(), "/api/v1/concerns/raise/", RAISE).json()
    receipt = {"receipt": raised["receipt"]}
    assert post(api(), "/api/v1/follow-up/escalate/", receipt).status_code == 409
    status = post(api(), "/api/v1/follow-up/", receipt).json()
    assert status["state"] == "received"
    with time_machine.travel(timezone.now() + timedelta(days=110), tick=False):
        response = post(api(), "/api/v1/follow-up/escalate/", receipt)
    assert response.status_code == 200
    assert response.json()["route_level"] == 1


def test_alerts_are_listed_for_governors_and_resolved_with_a_reason(demo: None) -> None:
    raised = post(api(), "/api/v1/concerns/raise/", RAISE).json()
    post(
        api(),
        "/api/v1/follow-up/messages/",
        {"receipt": raised["receipt"], "body": "I lost shifts", "kind": "detriment"},
    )
    listing = api("governor").get("/api/v1/alerts/").json()["results"]
    assert [(a["rule"], a["concern"]) for a in listing] == [("detriment", raised["reference"])]
    assert "I lost shifts" not in json.dumps(listing)
    alert_id = listing[0]["id"]
    assert api("guardian-community").get("/api/v1/alerts/").json()["results"] == []
    assert post(api("guardian-community"), f"/api/v1/alerts/{alert_id}/resolve/", {"reason": "x"}).status_code == 404
    assert post(api("governor"), f"/api/v1/alerts/{alert_id}/resolve/", {}).status_code == 400
    resolved = post(api("governor"), f"/api/v1/alerts/{alert_id}/resolve/", {"reason": "Spoke to the manager."})
    assert resolved.status_code == 200
    assert Alert.objects.get(pk=alert_id).resolution == "Spoke to the manager."
    assert api("governor").get("/api/v1/alerts/").json()["results"] == []
    # Not urgent: the same rule does not alert again for this concern.
    post(api(), "/api/v1/follow-up/messages/", {"receipt": raised["receipt"], "body": "Again", "kind": "detriment"})
    assert Alert.objects.filter(concern__reference=raised["reference"]).count() == 1


def test_an_urgent_concern_is_never_exempt_from_re_alerting(demo: None) -> None:
    raised = post(api(), "/api/v1/concerns/raise/", {**RAISE, "urgent": True}).json()
    message = {"receipt": raised["receipt"], "body": "Again", "kind": "nothing_done"}
    post(api(), "/api/v1/follow-up/messages/", message)
    first = Alert.objects.get(concern__reference=raised["reference"])
    post(api("governor"), f"/api/v1/alerts/{first.pk}/resolve/", {"reason": "Reviewed."})
    post(api(), "/api/v1/follow-up/messages/", message)
    assert Alert.objects.filter(concern__reference=raised["reference"], rule="nothing_done").count() == 2
