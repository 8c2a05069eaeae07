"""Staff's own words (why a concern was closed, paused or escalated; why an alert was resolved) are
encrypted like the narrative, shown to those who may read the case, and chained: an edit is caught."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from rest_framework.authtoken.models import Token

from backend.concerns import services
from backend.concerns.models import Concern, Reason
from backend.organisations.models import Organisation
from backend.oversight.models import Alert
from backend.oversight.services import alert_resolve

pytestmark = pytest.mark.django_db

WORDS = {
    "pause": "canary-pause-Nurse-Adebayo-on-leave",
    "escalate": "canary-escalate-conflict-with-Dr-Whitlock",
    "close": "canary-close-Ward-7-staffing-fixed",
    "resolve": "canary-resolve-spoke-to-Matron-Okafor",
}


def _user(username: str):  # type: ignore[no-untyped-def]
    return get_user_model().objects.get(username=username)


def _client(username: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=_user(username))[0].key}")


def _raise() -> Concern:
    draft = services.ConcernDraft(
        unit=Organisation.objects.get(code="RNX07"),
        raiser_kind="staff",
        identity_mode="anonymous",
        themes=["staffing"],
        what_happened="Short-staffed nights on the ward.",
    )
    return services.concern_raise(draft=draft).concern


def _everything_stored() -> str:
    """Every row of every table, as the database holds it (decrypted nowhere)."""
    dump = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT * FROM "{table}"')
            dump.extend(repr(row) for row in cursor.fetchall())
    return "\n".join(dump)


def _with_words() -> tuple[Concern, Concern]:
    guardian = _user("guardian")
    closed, escalated = _raise(), _raise()
    services.concern_clocks_pause(concern_id=closed.pk, user=guardian, reason=WORDS["pause"])
    services.concern_acknowledge(concern_id=closed.pk, user=guardian)
    services.concern_close(concern_id=closed.pk, user=guardian, reason=WORDS["close"])
    services.concern_escalate_by_guardian(concern_id=escalated.pk, user=guardian, reason=WORDS["escalate"])
    alert = Alert.objects.get(concern=closed, rule="closed_without_feedback")
    alert_resolve(alert_id=alert.pk, user=_user("governor"), reason=WORDS["resolve"])
    return closed, escalated


def test_no_words_of_staff_are_stored_in_clear(demo: None) -> None:
    closed, escalated = _with_words()
    stored = _everything_stored()
    assert closed.reference in stored and escalated.reference in stored  # the dump holds the rows
    assert Reason.objects.count() == 3
    for said in WORDS.values():
        assert said not in stored


def test_those_who_read_the_case_read_the_words_and_the_chain_holds_them(demo: None) -> None:
    closed, escalated = _with_words()
    case = _client("guardian").get(f"/api/v1/concerns/{closed.reference}/").json()
    assert {h["kind"]: h["reason"] for h in case["history"]}.items() >= {
        "clocks_paused": WORDS["pause"],
        "close": WORDS["close"],
        "raised": "",
    }.items()
    case = _client("guardian").get(f"/api/v1/concerns/{escalated.reference}/").json()
    assert [h["reason"] for h in case["history"] if h["kind"] == "escalate"] == [WORDS["escalate"]]
    assert Alert.objects.get(concern=closed, rule="closed_without_feedback").resolution == WORDS["resolve"]
    call_command("audit_verify")


def test_words_edited_behind_the_chain_are_caught(demo: None) -> None:
    closed, _ = _with_words()
    said = next(r for r in Reason.objects.filter(concern=closed) if r.text == WORDS["close"])
    assert Reason.objects.filter(pk=said.pk).update(text="Nothing to see here.") == 1
    with pytest.raises(CommandError, match=f"concern {closed.pk}, event .*: reason edited"):
        call_command("audit_verify")
