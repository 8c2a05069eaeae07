from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from backend.concerns import services
from backend.concerns.models import Concern, Event
from tests.support.factories import ConcernFactory
from tests.support.tamper import as_table_owner

pytestmark = pytest.mark.django_db


def _concern() -> Concern:
    # On a ward of a care system of its own: ward -> trust -> board -> ICB -> regulator.
    return ConcernFactory(raiser_kind="patient", identity_mode="anonymous", themes=["other"], what_happened="text")


def _escalated() -> Concern:
    concern = _concern()
    services.clocks_fire_due(now=timezone.now() + timedelta(days=30))
    concern.refresh_from_db()
    assert concern.audit_seq == 3  # raised, clock_breached, escalate
    return concern


def test_audit_verify_passes_on_an_intact_chain() -> None:
    _escalated()
    call_command("audit_verify")


@pytest.mark.parametrize("tamper", ["edit", "delete_last", "reorder"])
def test_audit_verify_reports_the_first_broken_link(tamper: str) -> None:
    concern = _escalated()
    first, *_, second = Event.objects.filter(concern=concern).order_by("seq")
    with as_table_owner(), connection.cursor() as cursor:
        if tamper == "edit":
            cursor.execute("UPDATE concerns_event SET data = %s WHERE id = %s", ['{"unit": "ELSEWHERE"}', first.pk])
        elif tamper == "delete_last":
            cursor.execute("DELETE FROM concerns_event WHERE id = %s", [second.pk])
        else:
            cursor.execute("UPDATE concerns_event SET seq = 99 WHERE id = %s", [first.pk])
            cursor.execute("UPDATE concerns_event SET seq = 1 WHERE id = %s", [second.pk])
            cursor.execute("UPDATE concerns_event SET seq = 3 WHERE id = %s", [first.pk])
    with pytest.raises(CommandError, match=f"concern {concern.pk}, event"):
        call_command("audit_verify")
