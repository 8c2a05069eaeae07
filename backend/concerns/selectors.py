"""Read-only queries over concerns: inboxes, case pages, the raiser's view."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import QuerySet

from backend.concerns.models import Concern, Event, Message
from backend.organisations.models import Role
from backend.organisations.selectors import organisation_scope_q
from workflows.engine import lifecycle
from workflows.engine.lifecycle import Actor

HANDLING_ROLES = {Role.GUARDIAN, Role.HANDLER}


def concern_inbox(*, user: User | AnonymousUser) -> QuerySet[Concern]:
    """Concerns held in the subtrees where the user is a guardian or handler, newest first."""
    return (
        Concern.objects.filter(organisation_scope_q(user=user, roles=HANDLING_ROLES, field="holder"))
        .select_related("unit", "holder")
        .order_by("-received_at", "-pk")
    )


def concern_for_handler(*, user: User | AnonymousUser, reference: str) -> Concern | None:
    return concern_inbox(user=user).filter(reference=reference).first()


@dataclass(frozen=True)
class CaseView:
    concern: Concern
    actions: list[str]


def concern_case(*, user: User | AnonymousUser, reference: str) -> CaseView | None:
    """A handler's case page: the concern and the moves the rulebook allows them now."""
    concern = concern_for_handler(user=user, reference=reference)
    if concern is None:
        return None
    # Guardian and handler moves are the same in the table today; the service re-checks the role.
    return CaseView(concern=concern, actions=lifecycle.allowed(state=concern.state, actor=Actor.HANDLER))


@dataclass(frozen=True)
class TimelineEntry:
    kind: str
    state: str
    at: datetime

    @property
    def on(self) -> date:
        return self.at.date()


def concern_raiser_timeline(*, concern: Concern) -> list[TimelineEntry]:
    """What the raiser may see of their concern's history: moves and levels, never who did them."""
    events = Event.objects.filter(concern=concern, visible_to_raiser=True).order_by("seq")
    return [TimelineEntry(kind=e.kind, state=e.to_state, at=e.created_at) for e in events]


@dataclass(frozen=True)
class RaiserView:
    reference: str
    state: str
    route_level: int
    received_on: date
    would_speak_up_again: str
    timeline: list[TimelineEntry]
    messages: list[Message]


def concern_raiser_view(*, concern: Concern) -> RaiserView:
    """Everything the raiser may see: their status, timeline and conversation; nothing about staff."""
    return RaiserView(
        reference=concern.reference,
        state=concern.state,
        route_level=concern.route_level,
        received_on=concern.received_on,
        would_speak_up_again=concern.would_speak_up_again,
        timeline=concern_raiser_timeline(concern=concern),
        messages=list(Message.objects.filter(concern=concern).order_by("created_at", "pk")),
    )
