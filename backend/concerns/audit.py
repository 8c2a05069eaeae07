"""The hash chain over Events: how a link is computed, written and verified."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from backend.concerns.models import Concern, Event
from workflows.engine.lifecycle import Actor
from workflows.engine.vocabulary import EventKind

GENESIS = "0" * 64


def event_hash(
    *,
    prev_hash: str,
    concern_id: int,
    seq: int,
    kind: str,
    actor_id: int | None,
    actor_role: str,
    from_state: str,
    to_state: str,
    data: dict[str, Any],
    created_at: datetime,
) -> str:
    body = json.dumps(
        [prev_hash, concern_id, seq, kind, actor_id, actor_role, from_state, to_state, data, created_at.isoformat()],
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(body.encode()).hexdigest()


def event_build(
    *,
    concern: Concern,
    kind: EventKind,
    actor_id: int | None,
    actor_role: str,
    now: datetime,
    from_state: str = "",
    to_state: str = "",
    data: dict[str, Any] | None = None,
    visible_to_raiser: bool = False,
) -> Event:
    """The next link of the concern's chain, unsaved (the sweep saves a batch at once). Moves the
    concern's head; the caller holds the concern row lock and saves the concern."""
    data = data or {}
    seq = concern.audit_seq + 1
    prev = concern.audit_head or GENESIS
    digest = event_hash(
        prev_hash=prev,
        concern_id=concern.pk,
        seq=seq,
        kind=kind,
        actor_id=actor_id,
        actor_role=actor_role,
        from_state=from_state,
        to_state=to_state,
        data=data,
        created_at=now,
    )
    concern.audit_seq, concern.audit_head = seq, digest
    return Event(
        concern=concern,
        seq=seq,
        kind=kind,
        actor_id=actor_id,
        actor_role=actor_role,
        from_state=from_state,
        to_state=to_state,
        data=data,
        visible_to_raiser=visible_to_raiser,
        created_at=now,
        prev_hash=prev,
        hash=digest,
    )


def raised_event_build(*, concern: Concern, channel: str, now: datetime) -> Event:
    """The first link of a new concern's chain: raised, about its unit, by its raiser."""
    return event_build(
        concern=concern,
        kind=EventKind.RAISED,
        actor_id=None,
        actor_role=Actor.RAISER,
        now=now,
        to_state=concern.state,
        data={"unit": concern.unit.code, "channel": channel},
        visible_to_raiser=True,
    )


@dataclass(frozen=True)
class BrokenLink:
    concern_id: int
    seq: int
    reason: str


def _events_in_batches(concern_id: int, batch: int) -> Iterator[Event]:
    last = 0
    while True:
        rows = list(Event.objects.filter(concern_id=concern_id, seq__gt=last).order_by("seq")[:batch])
        if not rows:
            return
        yield from rows
        if len(rows) < batch:
            return
        last = rows[-1].seq


def audit_verify(*, batch: int = 2000) -> Iterator[BrokenLink | int]:
    """Yield each verified concern id, or a BrokenLink where its chain fails. Streams in batches."""
    last_id = 0
    while True:
        heads = list(
            Concern.objects.filter(pk__gt=last_id).order_by("pk").values_list("pk", "audit_seq", "audit_head")[:batch]
        )
        if not heads:
            return
        for concern_id, audit_seq, audit_head in heads:
            broken = _verify_one(concern_id, audit_seq, audit_head, batch)
            yield broken if broken else concern_id
        last_id = heads[-1][0]


def _verify_one(concern_id: int, audit_seq: int, audit_head: str, batch: int) -> BrokenLink | None:
    prev, expected_seq = GENESIS, 1
    for event in _events_in_batches(concern_id, batch):
        if event.seq != expected_seq:
            return BrokenLink(concern_id, expected_seq, "missing or re-ordered event")
        digest = event_hash(
            prev_hash=prev,
            concern_id=concern_id,
            seq=event.seq,
            kind=event.kind,
            actor_id=event.actor_id,
            actor_role=event.actor_role,
            from_state=event.from_state,
            to_state=event.to_state,
            data=event.data,
            created_at=event.created_at,
        )
        if event.prev_hash != prev or event.hash != digest:
            return BrokenLink(concern_id, event.seq, "event edited")
        prev, expected_seq = digest, expected_seq + 1
    if expected_seq - 1 != audit_seq or (audit_seq and prev != audit_head):
        return BrokenLink(concern_id, expected_seq, "chain shorter than its recorded head: events deleted")
    return None
