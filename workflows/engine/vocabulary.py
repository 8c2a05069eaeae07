"""The words Candour records and decides in, defined once, each with the human label it is shown
under: who raises a concern, what it is about, and the kinds of Event in its audit trail. Pure
Python; the models, the policy schema, the figures and the pages use these (the lifecycle's states
and moves are in lifecycle.py, clock kinds and breach actions in policy.py, sidelining rules in
sidelining.py).

A move of the lifecycle is recorded under its transition's own name (lifecycle.TRANSITIONS), so those
kinds are the table's names; tests/unit/test_vocabulary.py keeps every list here in step with the
others that name the same things.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class RaiserKind(StrEnum):
    STAFF = "staff"
    PATIENT = "patient"
    CARER = "carer"
    PUBLIC = "public"


RAISER_KIND_LABELS: dict[RaiserKind, str] = {
    RaiserKind.STAFF: "Member of staff",
    RaiserKind.PATIENT: "Patient",
    RaiserKind.CARER: "Carer or relative",
    RaiserKind.PUBLIC: "Member of the public",
}


class Theme(StrEnum):
    """What a concern is about: the categories the national speaking-up data return asks for."""

    PATIENT_SAFETY = "patient_safety"
    WORKER_SAFETY = "worker_safety"
    BULLYING = "bullying"
    BEHAVIOUR = "behaviour"
    OTHER = "other"


THEME_LABELS: dict[Theme, str] = {
    Theme.PATIENT_SAFETY: "Patient safety or quality",
    Theme.WORKER_SAFETY: "Worker safety or wellbeing",
    Theme.BULLYING: "Bullying or harassment",
    Theme.BEHAVIOUR: "Inappropriate attitudes or behaviours",
    Theme.OTHER: "Other",
}


class EventKind(StrEnum):
    # The lifecycle's moves (one per transition in lifecycle.TRANSITIONS).
    ACKNOWLEDGE = "acknowledge"
    START_REVIEW = "start_review"
    GIVE_FEEDBACK = "give_feedback"
    CLOSE = "close"
    ESCALATE = "escalate"
    WITHDRAW = "withdraw"
    REOPEN = "reopen"
    # Everything else that happens to a concern.
    RAISED = "raised"
    ASSIGNED = "assigned"
    PLACED = "placed"
    MESSAGE_TO_RAISER = "message_to_raiser"
    MESSAGE_FROM_RAISER = "message_from_raiser"
    INFORMATION_ADDED = "information_added"
    DETRIMENT_REPORTED = "detriment_reported"
    NOTHING_DONE_REPORTED = "nothing_done_reported"
    SPEAK_UP_AGAIN_ANSWERED = "speak_up_again_answered"
    IDENTITY_VIEWED = "identity_viewed"
    CLOCKS_PAUSED = "clocks_paused"
    CLOCKS_RESUMED = "clocks_resumed"
    CLOCK_BREACHED = "clock_breached"


EVENT_LABELS: dict[EventKind, str] = {
    EventKind.ACKNOWLEDGE: "Acknowledged",
    EventKind.START_REVIEW: "Review started",
    EventKind.GIVE_FEEDBACK: "Feedback given",
    EventKind.CLOSE: "Closed",
    EventKind.ESCALATE: "Escalated",
    EventKind.WITHDRAW: "Withdrawn by the raiser",
    EventKind.REOPEN: "Reopened",
    EventKind.RAISED: "Concern raised",
    EventKind.ASSIGNED: "Placed with a handler",
    EventKind.PLACED: "Placed on a ward or team",
    EventKind.MESSAGE_TO_RAISER: "Message to the raiser",
    EventKind.MESSAGE_FROM_RAISER: "Message from the raiser",
    EventKind.INFORMATION_ADDED: "More information added",
    EventKind.DETRIMENT_REPORTED: "Detriment reported",
    EventKind.NOTHING_DONE_REPORTED: "Raiser says nothing was done",
    EventKind.SPEAK_UP_AGAIN_ANSWERED: "Said whether they would speak up again",
    EventKind.IDENTITY_VIEWED: "Raiser's identity viewed",
    EventKind.CLOCKS_PAUSED: "Deadlines paused",
    EventKind.CLOCKS_RESUMED: "Deadlines resumed",
    EventKind.CLOCK_BREACHED: "A deadline passed",
}


def choices(labels: dict[Any, str]) -> list[tuple[str, str]]:
    """(value, label) pairs in the enum's order, as a model field's or a form's choices."""
    return [(str(value), label) for value, label in labels.items()]
