"""One step up a concern's route, in memory: shared by the sweep (which writes a batch at once) and
by the services (the raiser's or a guardian's own escalation), so both move a concern the same way."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from backend.concerns.audit import event_build
from backend.concerns.models import Concern, Event
from backend.organisations.models import Organisation
from workflows.engine import lifecycle
from workflows.engine.lifecycle import Actor
from workflows.engine.sidelining import is_bounced


@dataclass(frozen=True)
class Step:
    event: Event
    sender: Organisation
    bounced: bool  # the handovers now count as "passed around"


def escalation_step(
    *, concern: Concern, actor: Actor, actor_id: int | None, now: datetime, reason: str, note: str = ""
) -> Step | None:
    """Move the concern to the next body on its route; None at the top of the route. The caller holds
    the row lock, stops the old level's clocks, starts the new level's, and saves."""
    target = concern.holder.escalates_to
    if target is None:
        return None
    before, sender = concern.state, concern.holder
    lifecycle.check(name="escalate", state=before, actor=actor)
    concern.escalate()
    concern.holder, concern.route_level = target, concern.route_level + 1
    concern.handovers += 1
    concern.last_activity_at = now
    event = event_build(
        concern=concern,
        kind="escalate",
        actor_id=actor_id,
        actor_role=actor,
        now=now,
        from_state=before,
        to_state=concern.state,
        visible_to_raiser=True,
        data={"from": sender.code, "to": target.code, "level": concern.route_level, "reason": reason}
        | ({"note": note[:200]} if note else {}),
    )
    return Step(event=event, sender=sender, bounced=is_bounced(handovers=concern.handovers))
