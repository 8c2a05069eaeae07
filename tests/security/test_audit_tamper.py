"""Audit you can trust: events are insert-only in the database, every field of an event is in its
keyed link, and a chain rewritten consistently is caught by the heads exported before."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from backend.concerns import services
from backend.concerns.audit import GENESIS, BrokenLink, audit_heads_check, audit_heads_export, audit_verify, event_hash
from backend.concerns.models import Concern, Event
from tests.support.factories import ConcernFactory
from tests.support.tamper import as_table_owner

pytestmark = pytest.mark.django_db

CHAINED = [f.attname for f in Event._meta.concrete_fields if f.attname not in {"id", "hash"}]


def _escalated() -> Concern:
    """Three links: raised, clock breached, escalated."""
    concern = ConcernFactory(raiser_kind="patient", identity_mode="anonymous", themes=["other"], what_happened="text")
    services.clocks_fire_due(now=timezone.now() + timedelta(days=30))
    concern.refresh_from_db()
    assert concern.audit_seq == 3
    return concern


def _broken() -> list[BrokenLink]:
    return [r for r in audit_verify() if isinstance(r, BrokenLink)]


def test_the_database_refuses_to_change_or_delete_an_event() -> None:
    concern = _escalated()
    event = Event.objects.filter(concern=concern).first()
    assert event is not None
    for change in (
        lambda: Event.objects.filter(pk=event.pk).update(data={"unit": "ELSEWHERE"}),
        lambda: Event.objects.filter(pk=event.pk).delete(),
    ):
        with pytest.raises(DatabaseError, match="insert-only"), transaction.atomic():
            change()
    event.refresh_from_db()
    assert event.data["unit"] == concern.unit.code and _broken() == []


# A value each column could be changed to that still fits its type.
_TAMPERED = {
    "concern_id": "(SELECT MAX(id) FROM concerns_concern WHERE id <> concern_id)",
    "seq": "seq + 100",
    "kind": "'withdraw'",
    "actor_id": "(SELECT MIN(id) FROM auth_user)",
    "actor_role": "'guardian'",
    "from_state": "'closed'",
    "to_state": "'closed'",
    "data": """'{"unit": "ELSEWHERE"}'""",
    "visible_to_raiser": "NOT visible_to_raiser",
    "created_at": "created_at + interval '1 second'",
    "prev_hash": f"'{'f' * 64}'",
}


def test_every_field_an_event_records_is_chained() -> None:
    """A new field must be chained (and tampered with here): the list is the model's own."""
    assert sorted(_TAMPERED) == sorted(CHAINED)


@pytest.mark.parametrize("column", CHAINED)
def test_an_edit_to_any_field_of_an_event_is_caught(column: str, django_user_model) -> None:  # type: ignore[no-untyped-def]
    django_user_model.objects.create_user(username="someone")
    concern = _escalated()
    # A newer concern of one link, so an event can be moved to it without clashing with its own.
    ConcernFactory(raiser_kind="staff", identity_mode="anonymous", themes=["other"], what_happened="text")
    target = Event.objects.get(concern=concern, seq=2)
    with as_table_owner(), connection.cursor() as cursor:
        cursor.execute(f"UPDATE concerns_event SET {column} = {_TAMPERED[column]} WHERE id = %s", [target.pk])
    assert concern.pk in {b.concern_id for b in _broken()}


def _rewrite(concern: Concern, link: object) -> None:
    """Rewrite a concern's chain consistently: every link re-hashed over an edited event, and the
    concern's head moved to match, so nothing in the database disagrees with anything else."""
    prev = GENESIS
    with as_table_owner(), connection.cursor() as cursor:
        for event in Event.objects.filter(concern=concern).order_by("seq"):
            event.prev_hash = prev
            if event.seq == 1:
                event.data = {**event.data, "unit": "ELSEWHERE"}
            event.hash = prev = link(event)  # type: ignore[operator]
            cursor.execute(
                "UPDATE concerns_event SET data = %s, prev_hash = %s, hash = %s WHERE id = %s",
                [json.dumps(event.data), event.prev_hash, event.hash, event.pk],
            )
    Concern.objects.filter(pk=concern.pk).update(audit_head=prev)


def _unkeyed(event: Event) -> str:
    """What a tamperer without the key can compute: the same fields, a plain hash."""
    body = json.dumps([str(getattr(event, name)) for name in CHAINED])
    return hashlib.sha256(body.encode()).hexdigest()


def test_a_chain_rewritten_without_the_key_is_caught() -> None:
    concern = _escalated()
    _rewrite(concern, _unkeyed)
    assert [b.concern_id for b in _broken()] == [concern.pk]


def test_a_chain_rewritten_with_the_key_is_caught_by_the_heads_exported_before(tmp_path: Path) -> None:
    heads = tmp_path / "audit-heads.log"
    concern, untouched = _escalated(), _escalated()
    exported = audit_heads_export(path=heads, now=timezone.now())
    assert exported.heads == 2
    _rewrite(concern, event_hash)  # an insider with the database and the key
    assert _broken() == []  # the chain alone cannot tell
    caught = list(audit_heads_check(path=heads))
    assert [(b.concern_id, b.seq) for b in caught] == [(concern.pk, 3)]
    assert untouched.pk not in {b.concern_id for b in caught}
    with pytest.raises(CommandError, match=f"concern {concern.pk}, event 3: differs from the head exported"):
        call_command("audit_verify", heads=heads)


def test_a_deleted_event_is_caught_by_the_heads_exported_before(tmp_path: Path) -> None:
    heads = tmp_path / "audit-heads.log"
    concern = _escalated()
    audit_heads_export(path=heads, now=timezone.now())
    last = Event.objects.get(concern=concern, seq=3)
    with as_table_owner():
        Event.objects.filter(pk=last.pk).delete()
    Concern.objects.filter(pk=concern.pk).update(audit_seq=2, audit_head=Event.objects.get(pk=last.pk - 1).hash)
    assert _broken() == []  # consistent: the concern's head moved back one link
    assert [(b.concern_id, b.seq) for b in audit_heads_check(path=heads)] == [(concern.pk, 3)]


def test_each_export_appends_only_the_heads_that_moved(tmp_path: Path) -> None:
    heads = tmp_path / "audit-heads.log"
    first, second = _escalated(), _escalated()
    # In batches of two events: each concern's newest link of the batch, then the last batch's.
    assert audit_heads_export(path=heads, now=timezone.now(), batch=2).heads >= 2
    size = heads.stat().st_size
    assert audit_heads_export(path=heads, now=timezone.now()).heads == 0
    assert heads.stat().st_size == size  # nothing new, nothing written
    services.concern_withdraw(concern_id=second.pk)
    assert audit_heads_export(path=heads, now=timezone.now()).heads == 1
    newest = heads.read_text().splitlines()[-2].split()
    assert (int(newest[1]), int(newest[2])) == (second.pk, 4)
    assert {int(line.split()[1]) for line in heads.read_text().splitlines() if not line.startswith("through")} == {
        first.pk,
        second.pk,
    }
    call_command("audit_verify", heads=heads)


def test_a_link_made_at_a_local_time_verifies_as_the_database_gives_it_back() -> None:
    """A service handed a moment in local summer time (BST) still writes a link that verifies: the
    database returns the moment in UTC, and the link is made of the moment in UTC."""
    summer = datetime(2026, 7, 1, 14, 30, tzinfo=ZoneInfo("Europe/London"))
    concern = ConcernFactory(raiser_kind="staff", identity_mode="named", themes=["other"], what_happened="text")
    services.concern_withdraw(concern_id=concern.pk, now=summer)
    assert Event.objects.get(concern=concern, kind="withdraw").created_at.utcoffset() == timedelta(0)
    assert _broken() == []
