"""The keyed hash chain over Events: how a link is computed, written and verified."""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings

from backend.concerns.models import Concern, Event, IdentityMode, Reason
from workflows.engine.lifecycle import Actor
from workflows.engine.vocabulary import EventKind

GENESIS = "0" * 64


# Every column of an Event but its own id and hash goes into its link, found from the model so a field
# added later is chained without anyone remembering to add it here.
_CHAINED = tuple(f.attname for f in Event._meta.concrete_fields if f.attname not in {"id", "hash"})


def _chained_value(value: Any) -> Any:
    # A moment in UTC: the database gives it back in UTC, whatever zone the service passed it in.
    return value.astimezone(UTC).isoformat() if isinstance(value, datetime) else value


def event_hash(event: Event) -> str:
    """A link's hash: every field the Event records, with the hash of the link before it, keyed by
    CANDOUR_AUDIT_KEY. The key is not in the database: someone who can rewrite the events table still
    cannot write a chain that verifies."""
    body = json.dumps(
        {name: _chained_value(getattr(event, name)) for name in _CHAINED},
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hmac.new(settings.CANDOUR_AUDIT_KEY, body.encode(), hashlib.sha256).hexdigest()


def words_digest(text: str) -> str:
    """What an Event's link holds of staff's words (kept in a Reason): a keyed digest, so the chain
    proves the words unchanged without holding them, and short words cannot be guessed from it."""
    return hmac.new(settings.CANDOUR_AUDIT_KEY, b"words:" + text.encode(), hashlib.sha256).hexdigest()


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
        # The themes too: the early-warning counts per unit and theme follow from this link alone, as
        # do the quarterly return's (with the professional group and whether it came anonymously:
        # vocabulary values, never words).
        data={
            "unit": concern.unit.code,
            "channel": channel,
            "themes": list(concern.themes),
            "group": concern.professional_group,
            "anonymous": concern.identity_mode == IdentityMode.ANONYMOUS,
            # A detriment case names the concern it follows: the figures count it there, not as received.
            **({"detriment_of": concern.detriment_of_id} if concern.detriment_of_id is not None else {}),
        },
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
    # Staff's words beside the chain: each must be the words its link's digest was made of. Words
    # retention has deleted are simply absent.
    words = dict(Reason.objects.filter(concern_id=concern_id).values_list("seq", "text"))
    for event in _events_in_batches(concern_id, batch):
        if event.seq != expected_seq:
            return BrokenLink(concern_id, expected_seq, "missing or re-ordered event")
        if event.prev_hash != prev or event.hash != event_hash(event):
            return BrokenLink(concern_id, event.seq, "event edited")
        said = words.pop(event.seq, None)
        if said is not None and event.data.get("words") != words_digest(said):
            return BrokenLink(concern_id, event.seq, "reason edited")
        prev, expected_seq = event.hash, expected_seq + 1
    if expected_seq - 1 != audit_seq or (audit_seq and prev != audit_head):
        return BrokenLink(concern_id, expected_seq, "chain shorter than its recorded head: events deleted")
    if words:
        return BrokenLink(concern_id, min(words), "reason with no event")
    return None


# The chain heads, exported. Someone holding both the database and the audit key could still rewrite
# a concern's chain consistently; the heads already written to an append-only file elsewhere (a
# write-once bucket, a log host) are out of their reach, so the rewrite no longer matches them. Each
# export writes the newest link of every concern that gained events since the last one; a link
# commits to every link before it, so the file need not hold them all.
_THROUGH = "through "


def _heads_watermark(path: Path) -> int:
    """The last event id a finished export covered: the last line of the file, read from its end."""
    if not path.exists():
        return 0
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        fh.seek(max(0, fh.tell() - 4096))
        for line in reversed(fh.read().decode().splitlines()):
            if line.startswith(_THROUGH):
                return int(line.split()[1])
    return 0


@dataclass(frozen=True)
class HeadsExported:
    heads: int
    through: int


def audit_heads_export(*, path: Path, now: datetime, batch: int = 5000) -> HeadsExported:
    """Append the head of every concern whose chain grew since the last export. Streams the new
    events in id order, a batch at a time; holds the file's lock, so two runs never interleave."""
    path.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with open(path, "a", encoding="utf-8") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        through = start = _heads_watermark(path)
        while rows := list(
            Event.objects.filter(pk__gt=through).order_by("pk").values_list("pk", "concern_id", "seq", "hash")[:batch]
        ):
            newest: dict[int, tuple[int, int, str]] = {}
            for pk, concern_id, seq, link in rows:
                if seq > newest.get(concern_id, (0, 0, ""))[1]:
                    newest[concern_id] = (pk, seq, link)
            fh.writelines(f"{pk} {concern_id} {seq} {link}\n" for concern_id, (pk, seq, link) in newest.items())
            written, through = written + len(newest), rows[-1][0]
        if through != start:
            fh.write(f"{_THROUGH}{through} {now.isoformat()}\n")
        fh.flush()
        os.fsync(fh.fileno())
    return HeadsExported(heads=written, through=through)


def audit_heads_check(*, path: Path, batch: int = 5000) -> Iterator[BrokenLink]:
    """Every exported head that the database no longer holds as it was: a link edited, deleted or
    rewritten since it was exported. Streams the file a batch at a time."""

    def compare(lines: list[tuple[int, int, int, str]]) -> Iterator[BrokenLink]:
        held = {
            pk: (concern_id, seq, link)
            for pk, concern_id, seq, link in Event.objects.filter(pk__in=[line[0] for line in lines]).values_list(
                "pk", "concern_id", "seq", "hash"
            )
        }
        for pk, concern_id, seq, link in lines:
            if held.get(pk) != (concern_id, seq, link):
                yield BrokenLink(concern_id, seq, "differs from the head exported")

    pending: list[tuple[int, int, int, str]] = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.startswith(_THROUGH) or not line.strip():
                continue
            pk, concern_id, seq, link = line.split()
            pending.append((int(pk), int(concern_id), int(seq), link))
            if len(pending) >= batch:
                yield from compare(pending)
                pending = []
    yield from compare(pending)
