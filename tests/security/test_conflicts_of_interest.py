"""Conflicts of interest (issue 16, item 1): a raiser names who must not handle their concern (their
own words for the guardian, or a role such as their line manager, which the guardian resolves to a
person); any member of staff who handles the concern, or could, declares their own. Candour never
places the concern with a conflicted person: the API and the case page refuse (409) with words
saying so, and the attempt opens one sidelining alert per concern and person. The guardian at the
origin sees who and why; a handler, a governor and a body further up the route see only that a
conflict exists. The raiser's words are encrypted at rest and never in the escalation packet."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token

from backend.concerns import services
from backend.concerns.audit import BrokenLink, audit_verify
from backend.concerns.models import Concern, ConflictOfInterest, Event, Reason
from backend.organisations.models import Organisation, Role
from backend.oversight.models import Alert
from tests.support.concern_bodies import concern_body
from tests.support.factories import StaffFactory
from tests.support.sign_in import staff_client

pytestmark = pytest.mark.django_db

WORDS = "CONFLICT-CANARY: not Sister Example, she is the rota lead's partner"
REASON = "REASON-CANARY: I wrote the rota in question"


def _user(username: str) -> User:
    return get_user_model().objects.get(username=username)


def _api(user: User | str) -> Client:
    user = _user(user) if isinstance(user, str) else user
    return Client(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")


def _post(client: Client, url: str, body: dict[str, object]) -> object:
    return client.post(url, json.dumps(body), content_type="application/json")


def _ward_manager() -> User:
    """A second handler on ward 7: the one the raiser means by "the ward manager"."""
    return StaffFactory(
        username="wendy-ward",
        first_name="Wendy",
        last_name="Wardmanager",
        membership__role=Role.HANDLER,
        membership__organisation=Organisation.objects.get(code="RNX07"),
    )


def _raised(**fields: object) -> Concern:
    body = concern_body(not_to_handle=WORDS, not_to_handle_roles=["ward_manager"], **fields)
    answer = Client().post("/api/v1/concerns/raise/", json.dumps(body), content_type="application/json")
    assert answer.status_code == 201, answer.content
    return Concern.objects.get(reference=answer.json()["reference"])


def _named_by_guardian(concern: Concern, person: User) -> None:
    """The guardian says who "the ward manager" the raiser ticked is."""
    answer = _post(
        _api("guardian"),
        f"/api/v1/concerns/{concern.reference}/conflicts/",
        {"person": person.username, "resolves": "ward_manager", "reason": REASON},
    )
    assert answer.status_code == 201, answer.content  # type: ignore[attr-defined]


def _alerts(concern: Concern) -> int:
    return Alert.objects.filter(concern=concern, rule="conflicted_assignment").count()


def test_a_named_conflicted_handler_cannot_be_assigned_by_api_or_page_and_the_attempt_opens_one_alert(
    demo: None,
) -> None:
    concern, manager = _raised(), _ward_manager()
    _named_by_guardian(concern, manager)
    ref = concern.reference

    refused = _post(_api("guardian"), f"/api/v1/concerns/{ref}/assign/", {"handler": manager.username})
    assert refused.status_code == 409  # type: ignore[attr-defined]
    detail = refused.json()["detail"]  # type: ignore[attr-defined]
    assert "Wendy Wardmanager cannot handle this concern" in detail and "conflict of interest" in detail
    assert _alerts(concern) == 1

    # The case page refuses the same, with the same words beside the handler's field; no second alert.
    page = staff_client("guardian").post(f"/inbox/{ref}/assign/", {"handler": manager.username})
    assert page.status_code == 409
    assert "Wendy Wardmanager cannot handle this concern" in page.content.decode()
    assert _alerts(concern) == 1

    concern.refresh_from_db()
    assert concern.assignee_id is None and concern.handovers == 0
    # Each attempt is a link of the chain (who was tried, by id), and the chain verifies.
    tried = Event.objects.filter(concern=concern, kind="assign_refused")
    assert [e.data for e in tried] == [{"handler": manager.pk}] * 2
    assert not [x for x in audit_verify() if isinstance(x, BrokenLink)]
    # The alert says what happened, never who: its label, and a subject that is an opaque digest.
    alert = Alert.objects.get(concern=concern, rule="conflicted_assignment")
    assert alert.get_rule_display() == "Placement with someone who has a conflict of interest attempted"
    assert manager.username not in alert.subject and str(manager.pk) != alert.subject and len(alert.subject) == 64

    # Someone without a conflict is placed as ever.
    placed = _post(_api("guardian"), f"/api/v1/concerns/{ref}/assign/", {"handler": "handler"})
    assert placed.status_code == 200  # type: ignore[attr-defined]
    concern.refresh_from_db()
    assert concern.assignee == _user("handler")


def test_a_declared_conflict_refuses_the_declarant_with_an_alert_of_its_own(demo: None) -> None:
    """A handler who could be given the concern (not yet its handler, so they cannot read it) declares
    their own conflict by its reference; a try to place it with them is refused and alerted once,
    apart from another person's."""
    concern, manager = _raised(), _ward_manager()
    ref = concern.reference
    declared = _post(_api(manager), f"/api/v1/concerns/{ref}/conflicts/", {"reason": REASON})
    assert declared.status_code == 201, declared.content  # type: ignore[attr-defined]
    assert declared.json()["basis"] == "declared"  # type: ignore[attr-defined]
    again = _post(_api(manager), f"/api/v1/concerns/{ref}/conflicts/", {"reason": "again"})
    assert again.status_code == 201  # type: ignore[attr-defined]
    assert Event.objects.filter(concern=concern, kind="conflict_declared").count() == 1  # the same one
    assert _api(manager).get(f"/api/v1/concerns/{ref}/").status_code == 404  # still cannot read it

    for _ in range(2):
        answer = _post(_api("guardian"), f"/api/v1/concerns/{ref}/assign/", {"handler": manager.username})
        assert answer.status_code == 409  # type: ignore[attr-defined]
    assert _alerts(concern) == 1
    # A second conflicted person tried is a second alert (one per concern and person).
    services.concern_conflict_declare(concern_id=concern.pk, user=_user("handler"))
    assert _post(_api("guardian"), f"/api/v1/concerns/{ref}/assign/", {"handler": "handler"}).status_code == 409  # type: ignore[attr-defined]
    assert _alerts(concern) == 2


def test_staff_declare_on_the_case_page_each_an_event_with_the_reason_encrypted(demo: None) -> None:
    concern = _raised()
    guardian = _user("guardian")
    services.concern_assign(concern_id=concern.pk, user=guardian, handler=_user("handler"))
    page = staff_client("handler")
    case = page.get(f"/inbox/{concern.reference}/").content.decode()
    assert "Declare your own conflict of interest" in case
    assert WORDS not in case  # the raiser's naming is the guardian's, not the handler's
    assert page.post(f"/inbox/{concern.reference}/declare_conflict/", {"reason": REASON}).status_code == 302
    event = Event.objects.get(concern=concern, kind="conflict_declared")
    assert (event.actor_id, event.actor_role, event.visible_to_raiser) == (_user("handler").pk, "handler", False)
    assert REASON not in json.dumps(event.data) and "words" in event.data
    assert Reason.objects.get(concern=concern, seq=event.seq).text == REASON
    with connection.cursor() as cursor:
        cursor.execute("SELECT text FROM concerns_reason WHERE concern_id = %s", [concern.pk])
        assert all("REASON-CANARY" not in row[0] for row in cursor.fetchall())
    # The handler sees that a conflict exists, not who or why; the guardian sees both.
    assert _api("handler").get(f"/api/v1/concerns/{concern.reference}/conflicts/").status_code == 403
    seen = _api("guardian").get(f"/api/v1/concerns/{concern.reference}/conflicts/").json()
    assert {(c["basis"], c["username"], c["reason"]) for c in seen} >= {("declared", "handler", REASON)}
    guardian_page = staff_client("guardian").get(f"/inbox/{concern.reference}/").content.decode()
    assert REASON in guardian_page and WORDS.split(":")[0] in guardian_page


def test_the_raisers_words_are_encrypted_at_rest_and_only_their_guardian_reads_them(demo: None) -> None:
    concern = _raised(identity_mode="anonymous")
    rows = ConflictOfInterest.objects.filter(concern=concern).order_by("basis")
    assert [(r.basis, r.person_id, r.words) for r in rows] == [
        ("raiser_words", None, WORDS),
        ("ward_manager", None, ""),
    ]
    with connection.cursor() as cursor:
        cursor.execute("SELECT words FROM concerns_conflictofinterest WHERE concern_id = %s", [concern.pk])
        raw = [row[0] for row in cursor.fetchall()]
    assert any(raw) and all("CONFLICT-CANARY" not in value for value in raw)
    seen = _api("guardian").get(f"/api/v1/concerns/{concern.reference}/conflicts/").json()
    assert [c["words"] for c in seen if c["basis"] == "raiser_words"] == [WORDS]
    # Not in the concern's detail, even for its guardian: the conflicts have a route of their own.
    assert "CONFLICT-CANARY" not in _api("guardian").get(f"/api/v1/concerns/{concern.reference}/").content.decode()


def test_the_escalation_packet_leaves_the_conflicts_out(demo: None) -> None:
    concern, manager = _raised(), _ward_manager()
    _named_by_guardian(concern, manager)
    guardian = _user("guardian")
    assert (
        _post(
            _api("guardian"), f"/api/v1/concerns/{concern.reference}/assign/", {"handler": manager.username}
        ).status_code
        == 409
    )  # type: ignore[attr-defined]
    services.concern_acknowledge(concern_id=concern.pk, user=guardian)
    services.concern_escalate_by_guardian(concern_id=concern.pk, user=guardian, reason="Up the route.")
    services.concern_escalate_by_guardian(concern_id=concern.pk, user=guardian, reason="And again.")
    services.clocks_fire_due(now=timezone.now() + timedelta(days=8))
    concern.refresh_from_db()
    assert concern.holder.code == "QNX"
    api, page = _api("icb-guardian"), staff_client("icb-guardian")
    packet = api.get(f"/api/v1/concerns/{concern.reference}/")
    assert packet.json()["view"] == "packet" and packet.json()["conflict_of_interest"] is True
    kinds = [h["kind"] for h in packet.json()["history"]]
    assert "conflict_declared" not in kinds and "assign_refused" not in kinds
    case = page.get(f"/inbox/{concern.reference}/").content.decode()
    for text in (packet.content.decode(), case):
        for secret in ("CONFLICT-CANARY", "REASON-CANARY", "Wardmanager", manager.username):
            assert secret not in text
    assert api.get(f"/api/v1/concerns/{concern.reference}/conflicts/").status_code == 403


def test_a_governor_sees_that_a_conflict_exists_never_who_named_whom(demo: None) -> None:
    concern, manager = _raised(), _ward_manager()
    plain = Client().post("/api/v1/concerns/raise/", json.dumps(concern_body()), content_type="application/json")
    _named_by_guardian(concern, manager)
    _post(_api("guardian"), f"/api/v1/concerns/{concern.reference}/assign/", {"handler": manager.username})
    api, page = _api("governor"), staff_client("governor")
    listed = {
        c["reference"]: c["conflict_of_interest"] for c in api.get("/api/v1/oversight/concerns/").json()["results"]
    }
    assert listed[concern.reference] is True and listed[plain.json()["reference"]] is False
    alerts = api.get("/api/v1/alerts/").json()
    alerts = alerts["results"] if isinstance(alerts, dict) else alerts
    mine = [a for a in alerts if a["concern"] == concern.reference and a["rule"] == "conflicted_assignment"]
    assert [a["rule_label"] for a in mine] == ["Placement with someone who has a conflict of interest attempted"]
    seen = {
        "oversight": api.get("/api/v1/oversight/concerns/"),
        "alerts": api.get("/api/v1/alerts/"),
        "alerts page": page.get("/oversight/alerts/"),
        "dashboard": page.get("/oversight/"),
    }
    assert "conflict of interest attempted" in seen["alerts page"].content.decode()
    for where, response in seen.items():
        assert response.status_code == 200, where
        text = response.content.decode()
        for secret in ("CONFLICT-CANARY", "REASON-CANARY", "Wardmanager", manager.username, "ward_manager"):
            assert secret not in text, f"the governor sees {secret!r} in {where}"
    # Nor the conflicts themselves, nor the case.
    assert api.get(f"/api/v1/concerns/{concern.reference}/conflicts/").status_code == 404
    assert _post(api, f"/api/v1/concerns/{concern.reference}/conflicts/", {}).status_code == 404  # type: ignore[attr-defined]


def test_declarations_are_checked(demo: None) -> None:
    concern, manager = _raised(), _ward_manager()
    url = f"/api/v1/concerns/{concern.reference}/conflicts/"
    guardian = _api("guardian")
    # The raiser ticked the ward manager, not their line manager: the guardian cannot answer for that.
    wrong = _post(guardian, url, {"person": manager.username, "resolves": "line_manager"})
    assert wrong.status_code == 400 and "did not name" in wrong.json()["detail"]  # type: ignore[attr-defined]
    assert _post(guardian, url, {"person": "nobody-such"}).status_code == 400  # type: ignore[attr-defined]
    assert _post(guardian, url, {"resolves": "sideways"}).status_code == 400  # type: ignore[attr-defined]
    # Only the guardian names someone else; a would-be handler declares only their own.
    assert _post(_api(manager), url, {"person": "handler"}).status_code == 403  # type: ignore[attr-defined]
    assert _post(Client(), url, {}).status_code == 401  # type: ignore[attr-defined]
    assert not ConflictOfInterest.objects.filter(concern=concern, person__isnull=False).exists()
