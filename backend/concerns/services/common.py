"""What every use case on a concern shares: the row lock, who the caller is to the concern, the one
way a state moves (checked against the transition table), and the one way an Event is recorded."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.utils import timezone

from backend.concerns import scope
from backend.concerns.audit import event_build
from backend.concerns.clocks import inactivity_touch
from backend.concerns.models import Concern, Event
from backend.config.db import UnitOfWork
from backend.errors import Forbidden, IllegalMove
from workflows.engine import lifecycle
from workflows.engine.lifecycle import Actor
from workflows.engine.vocabulary import EventKind


def now_or(now: datetime | None) -> datetime:
    return now if now is not None else timezone.now()


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
    table decides (IllegalMove if it refuses), and django-fsm's transition, which checks the same
    table, makes the move on the model."""
    before = concern.state
    try:
        lifecycle.check(name=name, state=before, actor=actor)
    except lifecycle.IllegalTransition as refused:
        raise IllegalMove(name, before, actor) from refused
    getattr(concern, name)()
    return before


def event_record(
    work: UnitOfWork,
    *,
    concern: Concern,
    kind: EventKind,
    actor_role: Actor,
    now: datetime,
    actor_id: int | None = None,
    from_state: str = "",
    to_state: str = "",
    data: dict[str, Any] | None = None,
    visible_to_raiser: bool = False,
) -> Event:
    """The next link of the concern's audit chain, added to ``work`` (the figures follow from it when
    it is flushed). The caller holds the concern's row lock and saves the concern in the same work."""
    event = event_build(
        concern=concern,
        kind=kind,
        actor_id=actor_id,
        actor_role=actor_role,
        now=now,
        from_state=from_state,
        to_state=to_state,
        data=data,
        visible_to_raiser=visible_to_raiser,
    )
    work.add(event)
    return event


def activity_record(*, concern: Concern, now: datetime) -> None:
    """Recorded activity by those handling the concern: the inactivity clock counts again from now."""
    concern.last_activity_at = now
    inactivity_touch(concern=concern, now=now)


def move_record(
    work: UnitOfWork,
    *,
    concern: Concern,
    name: str,
    actor: Actor,
    actor_id: int | None,
    now: datetime,
    data: dict[str, Any] | None = None,
) -> None:
    """A lifecycle move with its Event and the activity it counts as; the caller saves the concern."""
    before = state_move(concern=concern, name=name, actor=actor)
    activity_record(concern=concern, now=now)
    event_record(
        work,
        concern=concern,
        kind=EventKind(name),
        actor_id=actor_id,
        actor_role=actor,
        now=now,
        from_state=before,
        to_state=concern.state,
        data=data,
        visible_to_raiser=True,
    )
