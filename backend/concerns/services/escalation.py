"""One step up a concern's route: built in memory by ``escalation_step``, shared by the sweep (which
writes a batch at once) and by the people who escalate by hand (a raiser once the feedback deadline
has passed, a guardian on purpose), so every escalation moves a concern the same way."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from django.contrib.auth.models import User
from django.db import transaction

from backend.concerns.clocks import ALL_KINDS, clocks_build, clocks_stop
from backend.concerns.models import Concern, Event
from backend.concerns.notices import Directory, escalation_notices, notices_send
from backend.concerns.services.common import Act, locked_for_guardian, now_or, state_move
from backend.errors import IllegalMove
from backend.organisations.models import Organisation
from workflows.engine.lifecycle import Actor
from workflows.engine.sidelining import Rule, is_bounced
from workflows.engine.vocabulary import EventKind

# The words given with an escalation: a guardian's reason, or a raiser's why the feedback falls short.
NOTE_MAX = 1000


@dataclass(frozen=True)
class Step:
    event: Event
    sender: Organisation
    bounced: bool  # the handovers now count as "passed around"


def escalation_step(act: Act, *, reason: str, note: str = "") -> Step | None:
    """Move the concern to the next body on its route, its Event recorded in ``act``; None at the
    top of the route. The caller holds the row lock, stops the old level's clocks, starts the new
    level's, and saves the concern."""
    concern = act.concern
    target = concern.holder.escalates_to
    if target is None:
        return None
    sender = concern.holder
    before = state_move(concern=concern, name=EventKind.ESCALATE, actor=act.actor)
    concern.holder, concern.route_level = target, concern.route_level + 1
    concern.handovers += 1
    concern.last_activity_at = act.now
    data = {"from": sender.code, "to": target.code, "level": concern.route_level, "reason": reason}
    event = act.record(
        EventKind.ESCALATE,
        data=data,
        reason=note[:NOTE_MAX],
        visible_to_raiser=True,
        from_state=before,
        to_state=concern.state,
    )
    return Step(event=event, sender=sender, bounced=is_bounced(handovers=concern.handovers))


def escalate_now(
    *,
    concern: Concern,
    actor: Actor,
    actor_id: int | None,
    now: datetime,
    reason: str,
    note: str = "",
    hold: datetime | None = None,
) -> Concern:
    """One concern, locked by the caller, one step up now: the new body's clocks start, both bodies'
    guardians are told (not before ``hold``, when an anonymous raiser's own escalation must not be
    placed within its hour), and a concern passed around too often is sidelined."""
    act = Act(concern, actor, actor_id, now)
    step = escalation_step(act, reason=reason, note=note)
    if step is None:
        raise IllegalMove(EventKind.ESCALATE, concern.state, actor)
    clocks_stop(concern_ids=[concern.pk])
    act.work.add(*clocks_build(concern=concern, kinds=ALL_KINDS, now=now))
    directory = Directory.for_organisations([concern.holder, concern.unit, step.sender])
    if step.bounced:
        act.sidelined(Rule.BOUNCED, directory=directory)
    act.done()
    notices = escalation_notices(directory=directory, concern=concern, sender=step.sender, reason=reason)
    notices_send([replace(n, not_before=hold) for n in notices] if hold else notices, now=now)
    return concern


@transaction.atomic
def concern_escalate_by_guardian(*, concern_id: int, user: User, reason: str, now: datetime | None = None) -> Concern:
    """A guardian sends the concern up the route on purpose (a conflict of interest, say)."""
    now = now_or(now)
    concern = locked_for_guardian(
        concern_id=concern_id, user=user, refusal="Only the guardian escalates a concern by hand."
    )
    return escalate_now(
        concern=concern, actor=Actor.GUARDIAN, actor_id=user.pk, now=now, reason="guardian_escalated", note=reason
    )
