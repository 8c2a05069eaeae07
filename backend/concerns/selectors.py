"""Read-only queries over concerns: inboxes, case pages, the raiser's view."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import QuerySet

from backend.concerns import scope
from backend.concerns.models import Concern, Event, Message
from backend.organisations.models import Membership, Role
from workflows.engine import lifecycle
from workflows.engine.lifecycle import Actor


def concern_inbox(*, user: User | AnonymousUser) -> QuerySet[Concern]:
    """Concerns the user handles: a guardian's subtree, a handler's assigned concerns; newest first."""
    return (
        Concern.objects.filter(scope.handling_q(user=user))
        .select_related("unit", "holder")
        .order_by("-received_at", "-pk")
    )


def concern_oversight_list(*, user: User | AnonymousUser) -> QuerySet[Concern]:
    """Concerns a governor, commissioner or regulator may know exist. Callers show no narrative."""
    return (
        Concern.objects.filter(scope.oversight_q(user=user))
        .select_related("unit", "holder")
        .order_by("-received_at", "-pk")
    )


def concern_public_status(*, user: User | AnonymousUser, reference: str) -> Concern | None:
    """A patient group follows a concern whose raiser shared its reference: state and dates only."""
    if not user.is_authenticated or not Membership.objects.filter(user=user, role=Role.PATIENT_GROUP).exists():
        return None
    return Concern.objects.select_related("unit", "holder").filter(reference=reference).first()


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
    actor = scope.actor_for(user=user, concern=concern)  # type: ignore[arg-type]
    actions = lifecycle.allowed(state=concern.state, actor=actor) if actor else []
    if actor and concern.state not in lifecycle.TERMINAL:
        # Not moves of the lifecycle, but what the same people may do while it is open.
        actions.append("message")
        if actor is Actor.GUARDIAN:
            actions.append("assign")
    return CaseView(concern=concern, actions=actions)


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
    state_label: str
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
        state_label=concern.get_state_display(),
        route_level=concern.route_level,
        received_on=concern.received_on,
        would_speak_up_again=concern.would_speak_up_again,
        timeline=concern_raiser_timeline(concern=concern),
        messages=list(Message.objects.filter(concern=concern).order_by("created_at", "pk")),
    )


def concern_by_id(*, concern_id: int) -> Concern | None:
    """For the raiser's follow-up session, which holds the id the receipt opened."""
    return Concern.objects.select_related("unit", "holder").filter(pk=concern_id).first()


def handlers_for_concern(*, concern: Concern) -> list[User]:
    """Handlers who may take the concern where it is held now."""
    paths = [concern.holder.path[: i + 1] for i, ch in enumerate(concern.holder.path) if ch == "/" and i > 0]
    return list(
        User.objects.filter(memberships__role=Role.HANDLER, memberships__organisation__path__in=paths)
        .distinct()
        .order_by("username")
    )


def concern_messages(*, concern: Concern) -> list[Message]:
    return list(Message.objects.filter(concern=concern).order_by("created_at", "pk"))
