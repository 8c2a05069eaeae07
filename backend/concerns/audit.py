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


def event_hash(event: Event) -> str:
    """A link's hash: everything the Event records, and the hash of the link before it."""
    body = json.dumps(
        [
            event.prev_hash,
            event.concern_id,
            event.seq,
            event.kind,
            event.actor_id,
            event.actor_role,
            event.from_state,
            event.to_state,
            event.data,
            event.created_at.isoformat(),
        ],
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
    """The next link of the concern's chain, unsaved (a unit of work writes it). Moves the concern's
    head; the caller holds the concern row lock and saves the concern."""
    event = Event(
        concern=concern,
        seq=concern.audit_seq + 1,
        kind=kind,
        actor_id=actor_id,
        actor_role=actor_role,
        from_state=from_state,
        to_state=to_state,
        data=data or {},
        visible_to_raiser=visible_to_raiser,
        created_at=now,
        prev_hash=concern.audit_head or GENESIS,
    )
    event.hash = event_hash(event)
    concern.audit_seq, concern.audit_head = event.seq, event.hash
    return event


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
        if event.prev_hash != prev or event.hash != event_hash(event):
            return BrokenLink(concern_id, event.seq, "event edited")
        prev, expected_seq = event.hash, expected_seq + 1
    if expected_seq - 1 != audit_seq or (audit_seq and prev != audit_head):
        return BrokenLink(concern_id, expected_seq, "chain shorter than its recorded head: events deleted")
    return None
