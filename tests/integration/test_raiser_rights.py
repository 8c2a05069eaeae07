"""What the lifecycle lets a raiser do once feedback is given (issue 13 item 5): reopen their concern,
once (a second time is refused, 409, with words saying why), and take it further when they judge the
feedback inadequate, saying why: the body it reaches reads the reason in the packet, never who they are."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.utils import timezone

from backend.concerns import services
from backend.concerns.models import Concern, Event, Message, Reason
from backend.concerns.services.raiser import REOPEN_ONCE
from backend.organisations.models import Organisation
from tests.support.sign_in import api_client

pytestmark = pytest.mark.django_db

NAME = "Raiser-Name-Canary"
WHY = "WHY-CANARY: the feedback did not say what would change on nights"


def _user(username: str) -> User:
    return get_user_model().objects.get(username=username)


def _feedback_given(*, identity_mode: str = "named") -> tuple[Concern, str]:
    raised = services.concern_raise(
        draft=services.ConcernDraft(
            unit=Organisation.objects.get(code="RNX07"),
            raiser_kind="staff",
            identity_mode=identity_mode,
            raiser_name=NAME if identity_mode != "anonymous" else "",
            themes=["patient_safety"],
            what_happened="One nurse on nights on ward 7",
        )
    )
    guardian = _user("guardian")
    services.concern_acknowledge(concern_id=raised.concern.pk, user=guardian)
    services.concern_give_feedback(concern_id=raised.concern.pk, user=guardian, feedback="We looked into it.")
    return raised.concern, raised.receipt


def _answered_again(concern: Concern) -> None:
    """A reopened concern is acknowledged again and given feedback again."""
    services.concern_acknowledge(concern_id=concern.pk, user=_user("guardian"))
    services.concern_give_feedback(concern_id=concern.pk, user=_user("guardian"), feedback="Second look.")


def _post(path: str, body: dict[str, str]) -> object:
    return Client().post(path, body, content_type="application/json")


def test_a_raiser_reopens_once_through_the_api_and_a_second_time_is_refused(demo: None) -> None:
    concern, receipt = _feedback_given()
    reopened = Client().post(
        "/api/v1/follow-up/reopen/", {"receipt": receipt, "reason": "Still one nurse"}, content_type="application/json"
    )
    assert reopened.status_code == 200, reopened.content
    assert reopened.json()["state"] == "reopened"
    concern.refresh_from_db()
    assert concern.state == "reopened"
    assert concern.clocks.filter(status="pending", kind="acknowledge").exists()  # the clocks run again
    assert [m.body for m in Message.objects.filter(concern=concern, direction="from_raiser")] == ["Still one nurse"]
    # Feedback again, then a second reopen: refused, with words that say why and what else they may do.
    _answered_again(concern)
    again = Client().post("/api/v1/follow-up/reopen/", {"receipt": receipt}, content_type="application/json")
    assert again.status_code == 409
    assert "already reopened" in again.content.decode()
    concern.refresh_from_db()
    assert concern.state == "feedback_given"
    assert Event.objects.filter(concern=concern, kind="reopen", actor_role="raiser").count() == 1


def test_the_follow_up_page_reopens_once_without_javascript(demo: None) -> None:
    concern, receipt = _feedback_given()
    client = Client()
    client.post("/follow-up/", {"receipt": receipt})
    page = client.get("/follow-up/concern/")
    assert b"Reopen your concern" in page.content
    assert client.post("/follow-up/concern/reopen/", {"reason": ""}).status_code == 302
    _answered_again(concern)
    page = client.get("/follow-up/concern/")
    assert b"Reopen your concern" not in page.content  # offered once only
    refused = client.post("/follow-up/concern/reopen/", {"reason": ""})
    assert refused.status_code == 409
    assert REOPEN_ONCE.split(",")[0].encode() in refused.content


def test_escalating_inadequate_feedback_needs_a_reason(demo: None) -> None:
    concern, receipt = _feedback_given()
    # No deadline has passed: feedback was given in time. Without a reason, refused (400).
    missing = _post("/api/v1/follow-up/escalate/", {"receipt": receipt})
    assert missing.status_code == 400
    concern.refresh_from_db()
    assert concern.state == "feedback_given"
    done = _post("/api/v1/follow-up/escalate/", {"receipt": receipt, "reason": WHY})
    assert done.status_code == 200, done.content
    concern.refresh_from_db()
    assert (concern.state, concern.holder.code) == ("escalated", "RNX")
    event = Event.objects.get(concern=concern, kind="escalate")
    assert event.data["reason"] == "feedback_inadequate" and event.actor_role == "raiser" and event.actor is None
    assert "WHY-CANARY" not in str(event.data)
    assert Reason.objects.get(concern=concern, seq=event.seq).text == WHY
    with connection.cursor() as cursor:  # encrypted at rest
        cursor.execute("SELECT text FROM concerns_reason WHERE concern_id = %s AND seq = %s", [concern.pk, event.seq])
        assert "WHY-CANARY" not in cursor.fetchone()[0]


def test_the_body_the_raiser_escalated_to_reads_why_and_not_who(demo: None) -> None:
    concern, receipt = _feedback_given()
    assert _post("/api/v1/follow-up/escalate/", {"receipt": receipt, "reason": WHY}).status_code == 200
    # Further up the route: the guardian sends it to the board, whose silence takes it to the ICB.
    services.concern_escalate_by_guardian(concern_id=concern.pk, user=_user("guardian"), reason="Board next.")
    services.clocks_fire_due(now=timezone.now() + timedelta(days=8))
    concern.refresh_from_db()
    assert concern.holder.code == "QNX"
    packet = api_client("icb-guardian").get(f"/api/v1/concerns/{concern.reference}/")
    assert packet.status_code == 200
    body = packet.json()
    assert body["view"] == "packet"
    [first, *_] = body["escalations"]
    assert (first["reason"], first["note"]) == ("feedback_inadequate", WHY)
    assert NAME not in packet.content.decode()


def test_an_anonymous_raisers_escalation_keeps_only_its_hour(demo: None) -> None:
    concern, receipt = _feedback_given(identity_mode="anonymous")
    assert _post("/api/v1/follow-up/escalate/", {"receipt": receipt, "reason": WHY}).status_code == 200
    event = Event.objects.get(concern=concern, kind="escalate")
    assert event.created_at.minute == event.created_at.second == event.created_at.microsecond == 0


def test_a_raiser_cannot_escalate_before_feedback_or_overdue(demo: None) -> None:
    raised = services.concern_raise(
        draft=services.ConcernDraft(
            unit=Organisation.objects.get(code="RNX07"),
            raiser_kind="staff",
            identity_mode="named",
            raiser_name=NAME,
            themes=["other"],
            what_happened="Early",
        )
    )
    refused = _post("/api/v1/follow-up/escalate/", {"receipt": raised.receipt, "reason": WHY})
    assert refused.status_code == 409
