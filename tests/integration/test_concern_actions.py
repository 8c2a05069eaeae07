"""Actions agreed on a concern (issue 13 item 1): recorded with an owner and a due date, done with
evidence, one "action overdue" alert once the date passes undone (time travel through the real
sweep), and an upheld concern closed with no action needing a reason and opening one alert."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client

from backend.concerns import services
from backend.concerns.action_selectors import concern_actions
from backend.concerns.models import Concern, ConcernAction, Event, Reason
from backend.concerns.services.retention import case_files_forget
from backend.errors import Conflict, Invalid
from backend.organisations.models import Organisation
from backend.oversight.models import Alert
from tests.support.sign_in import api_client, staff_client

pytestmark = pytest.mark.django_db

START = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)  # a Monday


def _user(username: str) -> User:
    return get_user_model().objects.get(username=username)


def _acknowledged(demo: None) -> Concern:
    concern = services.concern_raise(
        draft=services.ConcernDraft(
            unit=Organisation.objects.get(code="RNX07"),
            raiser_kind="staff",
            identity_mode="named",
            raiser_name="Raiser Canary",
            themes=["patient_safety"],
            what_happened="Night rotas leave one nurse on ward 7",
        ),
        now=START,
    ).concern
    services.concern_acknowledge(concern_id=concern.pk, user=_user("guardian"), now=START + timedelta(hours=1))
    return concern


def test_an_overdue_action_opens_exactly_one_alert_however_often_the_sweep_runs(demo: None) -> None:
    concern = _acknowledged(demo)
    action = services.concern_action_record(
        concern_id=concern.pk,
        user=_user("guardian"),
        title="ACTION-CANARY: two registered nurses on every night shift",
        owner="Ward manager",
        due_on=date(2026, 2, 27),
        now=START + timedelta(days=1),
    )
    # Encrypted at rest: the words are not in the row as stored.
    with connection.cursor() as cursor:
        cursor.execute("SELECT title, owner FROM concerns_concernaction WHERE id = %s", [action.pk])
        stored = cursor.fetchone()
    assert "ACTION-CANARY" not in stored[0] and "Ward manager" not in stored[1]

    # The day it is due: not overdue yet.
    on_the_day = datetime(2026, 2, 27, 22, 0, tzinfo=UTC)
    with time_machine.travel(on_the_day, tick=False):
        assert services.clocks_fire_due(now=on_the_day).actions_overdue == 0
    assert not Alert.objects.filter(concern=concern, rule="action_overdue").exists()

    # The day after, three sweeps, one of them twice over: one alert, one Event.
    for hours in (1, 2, 2, 30):
        at = datetime(2026, 2, 28, 0, 0, tzinfo=UTC) + timedelta(hours=hours)
        with time_machine.travel(at, tick=False):
            services.clocks_fire_due(now=at)
    assert Alert.objects.filter(concern=concern, rule="action_overdue", resolved_at=None).count() == 1
    assert Event.objects.filter(concern=concern, kind="action_overdue").count() == 1
    [view] = concern_actions(concern=concern, packet=False, now=datetime(2026, 3, 1, tzinfo=UTC))
    assert view.overdue and view.title.startswith("ACTION-CANARY")


def test_a_second_overdue_action_on_the_same_concern_has_its_own_alert(demo: None) -> None:
    concern = _acknowledged(demo)
    for n in (1, 2):
        services.concern_action_record(
            concern_id=concern.pk,
            user=_user("guardian"),
            title=f"Change {n}",
            owner="Matron",
            due_on=date(2026, 1, 20),
            now=START + timedelta(days=1),
        )
    at = datetime(2026, 1, 22, tzinfo=UTC)
    with time_machine.travel(at, tick=False):
        assert services.clocks_fire_due(now=at).actions_overdue == 2
    assert Alert.objects.filter(concern=concern, rule="action_overdue").count() == 2


def test_an_action_done_in_time_never_alerts_and_is_done_once(demo: None) -> None:
    concern = _acknowledged(demo)
    action = services.concern_action_record(
        concern_id=concern.pk,
        user=_user("guardian"),
        title="New rota rule",
        owner="Ward manager",
        due_on=date(2026, 1, 30),
        now=START + timedelta(days=1),
    )
    services.concern_action_complete(
        concern_id=concern.pk,
        user=_user("guardian"),
        action=action.seq,
        evidence="Rota for February attached to the case file",
        now=START + timedelta(days=10),
    )
    with pytest.raises(Conflict):
        services.concern_action_complete(
            concern_id=concern.pk, user=_user("guardian"), action=action.seq, evidence="again"
        )
    later = datetime(2026, 3, 1, tzinfo=UTC)
    with time_machine.travel(later, tick=False):
        services.clocks_fire_due(now=later)
    assert not Alert.objects.filter(concern=concern, rule="action_overdue").exists()
    assert Event.objects.filter(concern=concern, kind="action_done").count() == 1


def test_closing_upheld_with_no_action_needs_a_reason_and_opens_one_alert(demo: None) -> None:
    concern = _acknowledged(demo)
    guardian = _user("guardian")
    with pytest.raises(Invalid):
        services.concern_close(
            concern_id=concern.pk, user=guardian, reason="Investigated", outcome="upheld", now=START + timedelta(days=3)
        )
    concern.refresh_from_db()
    assert concern.state == "acknowledged"  # refused as a whole
    assert not Alert.objects.filter(concern=concern, rule="closed_without_action").exists()

    services.concern_close(
        concern_id=concern.pk,
        user=guardian,
        reason="Investigated",
        outcome="upheld",
        no_action_reason="NO-ACTION-CANARY the ward is closing next month",
        now=START + timedelta(days=3),
    )
    concern.refresh_from_db()
    assert concern.state == "closed" and concern.outcome == "upheld"
    assert Alert.objects.filter(concern=concern, rule="closed_without_action").count() == 1
    event = Event.objects.get(concern=concern, kind="closed_without_action")
    assert "NO-ACTION-CANARY" not in str(event.data)
    assert Reason.objects.get(concern=concern, seq=event.seq).text.startswith("NO-ACTION-CANARY")


def test_closing_upheld_with_an_action_or_not_upheld_needs_no_reason(demo: None) -> None:
    guardian = _user("guardian")
    with_action = _acknowledged(demo)
    services.concern_action_record(
        concern_id=with_action.pk,
        user=guardian,
        title="Rota rule",
        owner="Ward manager",
        due_on=date(2026, 2, 1),
        now=START + timedelta(days=1),
    )
    not_upheld = _acknowledged(demo)
    for concern, outcome in ((with_action, "partly_upheld"), (not_upheld, "not_upheld")):
        services.concern_close(
            concern_id=concern.pk, user=guardian, reason="Done", outcome=outcome, now=START + timedelta(days=3)
        )
    assert not Alert.objects.filter(rule="closed_without_action").exists()


def test_the_api_records_lists_and_completes_actions_and_the_packet_keeps_titles_only(demo: None) -> None:
    concern = _acknowledged(demo)
    guardian = api_client("guardian")
    url = f"/api/v1/concerns/{concern.reference}/actions/"
    refused = guardian.post(url, {"title": "", "owner": "x", "due_on": "not a date"}, content_type="application/json")
    assert refused.status_code == 400
    past = guardian.post(url, {"title": "t", "owner": "o", "due_on": "2000-01-01"}, content_type="application/json")
    assert past.status_code == 400
    body = {"title": "TITLE-CANARY rota", "owner": "OWNER-CANARY", "due_on": "2099-01-01"}
    created = guardian.post(url, body, content_type="application/json")
    assert created.status_code == 201, created.content
    number = created.json()["action"]
    listed = guardian.get(url).json()
    assert [a["owner"] for a in listed] == ["OWNER-CANARY"]
    done = guardian.post(
        url + "done/", {"action": number, "evidence": "EVIDENCE-CANARY"}, content_type="application/json"
    )
    assert done.status_code == 200
    again = guardian.post(url + "done/", {"action": number, "evidence": "x"}, content_type="application/json")
    assert again.status_code == 409
    # The packet, as a body further up the route sees it: the title, never the owner or the evidence.
    [packet] = concern_actions(concern=concern, packet=True, now=START)
    assert packet.title.startswith("TITLE-CANARY") and packet.owner == "" and packet.evidence == ""
    assert ConcernAction.objects.get(concern=concern).done_at is not None


def test_the_case_page_records_an_action_without_javascript(demo: None) -> None:
    concern = _acknowledged(demo)
    client: Client = staff_client("guardian")
    page = client.get(f"/inbox/{concern.reference}/")
    assert b"Record an action" in page.content
    posted = client.post(
        f"/inbox/{concern.reference}/record_action/",
        {"title": "Page action", "owner": "Matron", "due_on": "2099-02-01"},
    )
    assert posted.status_code == 302
    page = client.get(f"/inbox/{concern.reference}/")
    assert b"Page action" in page.content and b"Matron" in page.content
    missing = client.post(f"/inbox/{concern.reference}/record_action/", {"title": "", "owner": "", "due_on": ""})
    assert missing.status_code == 400 and b"Say what will change." in missing.content


def test_retention_forgets_an_actions_owner_and_evidence_and_keeps_what_changed(demo: None) -> None:
    concern = _acknowledged(demo)
    guardian = _user("guardian")
    action = services.concern_action_record(
        concern_id=concern.pk,
        user=guardian,
        title="Rota rule",
        owner="OWNER-CANARY",
        due_on=date(2026, 2, 1),
        now=START + timedelta(days=1),
    )
    services.concern_action_complete(
        concern_id=concern.pk, user=guardian, action=action.seq, evidence="EVIDENCE-CANARY", now=START
    )
    services.concern_close(concern_id=concern.pk, user=guardian, reason="Done", now=START + timedelta(days=3))
    case_files_forget(ended=datetime(2030, 1, 1, tzinfo=UTC), batch=50, now=datetime(2030, 1, 1, tzinfo=UTC))
    action.refresh_from_db()
    assert (action.title, action.owner, action.evidence) == ("Rota rule", "", "")
