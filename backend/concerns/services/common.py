"""What every use case on a concern shares: the row lock, who the caller is to the concern, the one
way a state moves (checked against the transition table), and the one way an Event is recorded
(``Act``, a use case at work)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.utils import timezone

from backend.concerns import scope
from backend.concerns.audit import event_build, words_digest
from backend.concerns.clocks import inactivity_touch
from backend.concerns.facts import Sidelined
from backend.concerns.models import Concern, Event, IdentityMode, Reason
from backend.concerns.notices import Directory
from backend.config.db import UnitOfWork
from backend.errors import Forbidden, IllegalMove, NotTheirMove
from workflows.engine import lifecycle
from workflows.engine.lifecycle import Actor
from workflows.engine.sidelining import Rule
from workflows.engine.vocabulary import EventKind


def now_or(now: datetime | None) -> datetime:
    return now if now is not None else timezone.now()


# An anonymous raiser's notices wait until the end of the receipt's hour plus up to this much, drawn
# at random, so the time a guardian is told cannot place the raise within its hour.
NOTICE_JITTER = timedelta(minutes=15)
_random = random.SystemRandom()


def notice_hold(concern: Concern, *, at: datetime) -> datetime | None:
    """When notices an anonymous raiser's action at ``at`` causes may go out: after the end of its
    hour, plus a random jitter of 0 to NOTICE_JITTER. None (at once) for a named or
    confidential raiser, and for a concern marked urgent: patients may be at risk of harm now."""
    if concern.identity_mode != IdentityMode.ANONYMOUS or concern.urgent:
        return None
    hour = at.replace(minute=0, second=0, microsecond=0)
    jitter = timedelta(seconds=_random.uniform(0, NOTICE_JITTER.total_seconds()))
    return hour + timedelta(hours=1) + jitter


def locked(concern_id: int) -> Concern:
    # FOR UPDATE: the sweep may be escalating this very concern; whoever locks first decides.
    return (
        Concern.objects.select_for_update(of=("self",))
        .select_related("holder", "holder__escalates_to", "unit", "policy")
        .get(pk=concern_id)
    )


def actor_for(*, user: User, concern: Concern) -> Actor:
    actor = scope.actor_for(user=user, concern=concern)
    if actor is None:
        raise Forbidden("You do not handle this concern.")
    return actor


def locked_for_guardian(*, concern_id: int, user: User, refusal: str) -> Concern:
    """The concern, locked, for a move only its guardian makes; Forbidden(refusal) for anyone else."""
    concern = locked(concern_id)
    if actor_for(user=user, concern=concern) is not Actor.GUARDIAN:
        raise Forbidden(refusal)
    return concern


def refuse_if_closed(*, concern: Concern, name: str, actor: Actor) -> None:
    """Anything but a lifecycle move (a message, a placement) is refused once a concern has ended."""
    if concern.state in lifecycle.TERMINAL:
        raise IllegalMove(name, concern.state, actor)


def state_move(*, concern: Concern, name: str, actor: Actor) -> str:
    """Move the concern's state by the transition ``name``, as the table allows ``actor``; returns the
    state before. The only way a state changes, for one concern and for a sweep's batch alike: the
    table decides (NotTheirMove if it never lets this actor make it, IllegalMove if not from this
    state), and django-fsm's transition, which checks the same table, makes the move on the model."""
    before = concern.state
    try:
        lifecycle.check(name=name, state=before, actor=actor)
    except lifecycle.IllegalTransition as refused:
        if not lifecycle.ever_allowed(name=name, actor=actor):
            raise NotTheirMove(name, before, actor) from refused
        raise IllegalMove(name, before, actor) from refused
    getattr(concern, name)()
    return before


@dataclass
class Act:
    """One use case at work on one concern (locked by the caller): who acts, when, and the unit of
    work its writes go into. Services record Events, move the state and tell of sidelining through
    it, then ``done`` saves the concern and flushes the lot."""

    concern: Concern
    actor: Actor
    actor_id: int | None
    now: datetime
    work: UnitOfWork = field(default_factory=UnitOfWork)

    def record(
        self,
        kind: EventKind,
        *,
        data: dict[str, Any] | None = None,
        visible_to_raiser: bool = False,
        from_state: str = "",
        to_state: str = "",
        reason: str = "",
    ) -> Event:
        """The next link of the concern's audit chain (the figures follow from it when it is flushed).
        ``reason``: staff's own words for it, kept encrypted in a Reason; the link holds their digest."""
        if reason:
            data = {**(data or {}), "words": words_digest(reason)}
        event = event_build(
            concern=self.concern,
            kind=kind,
            actor_id=self.actor_id,
            actor_role=self.actor,
            now=self.now,
            from_state=from_state,
            to_state=to_state,
            data=data,
            visible_to_raiser=visible_to_raiser,
        )
        self.work.add(event)
        if reason:
            self.work.add(Reason(concern=self.concern, seq=event.seq, text=reason))
        return event

    def move(self, name: EventKind, *, data: dict[str, Any] | None = None, reason: str = "") -> None:
        """A lifecycle move, as the table allows, with its Event and the activity it counts as."""
        before = state_move(concern=self.concern, name=name, actor=self.actor)
        self.active()
        self.record(
            name, data=data, visible_to_raiser=True, from_state=before, to_state=self.concern.state, reason=reason
        )

    def active(self) -> None:
        """Recorded activity by those handling the concern: the inactivity clock counts again from now."""
        self.concern.last_activity_at = self.now
        inactivity_touch(concern=self.concern, now=self.now)

    def sidelined(
        self,
        rule: Rule,
        *,
        directory: Directory | None = None,
        not_before: datetime | None = None,
        subject: str = "",
    ) -> None:
        self.work.tell(
            Sidelined(
                concern=self.concern,
                rule=rule,
                at=self.now,
                directory=directory,
                not_before=not_before,
                subject=subject,
            )
        )

    def done(self, *, fields: Sequence[str] | None = None) -> Concern:
        self.work.save(self.concern, fields=fields)
        self.work.flush()
        return self.concern
