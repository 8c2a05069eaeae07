"""Read-only queries for the actions agreed on a concern (services.actions)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from django.contrib.auth.models import AnonymousUser, User

from backend.concerns import scope, selectors
from backend.concerns.models import Concern, ConcernAction


@dataclass(frozen=True)
class ActionView:
    """One action as a caller sees it. In the escalation packet (a body further up the route) only
    what was done and when: its title and dates; who owns it and the evidence stay at the origin
    (staff's words that may name people), so ``owner`` and ``evidence`` are empty there."""

    seq: int
    title: str
    owner: str
    due_on: date
    done_on: date | None
    evidence: str
    overdue: bool


def concern_actions(*, concern: Concern, packet: bool, now: datetime) -> list[ActionView]:
    """The actions agreed on ``concern``, oldest first, for a caller already allowed to see its case
    (``packet``: they see the escalation packet)."""
    return [
        ActionView(
            seq=row.seq,
            title=row.title,
            owner="" if packet else row.owner,
            due_on=row.due_on,
            done_on=row.done_at.date() if row.done_at else None,
            evidence="" if packet else row.evidence,
            overdue=row.done_at is None and row.due_at <= now,
        )
        for row in ConcernAction.objects.filter(concern=concern).order_by("seq")
    ]


def concern_actions_for(*, user: User | AnonymousUser, reference: str, now: datetime) -> list[ActionView] | None:
    """The actions on the concern ``reference`` as ``user`` may see them; None if they may not see it."""
    concern = selectors.concern_for_handler(user=user, reference=reference)
    if concern is None:
        return None
    packet = scope.outside_origin(user=user, concern=concern)  # type: ignore[arg-type]
    return concern_actions(concern=concern, packet=packet, now=now)
