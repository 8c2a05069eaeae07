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
from typing import Self


class Labelled(StrEnum):
    """A word of the vocabulary: its stored value, and the human label it is shown under."""

    label: str

    def __new__(cls, value: str, label: str = "") -> Self:
        member = str.__new__(cls, value)
        member._value_ = value
        member.label = label
        return member


def choices(words: type[Labelled]) -> list[tuple[str, str]]:
    """(value, label) pairs in the vocabulary's order, as a model field's or a form's choices."""
    return [(word.value, word.label) for word in words]


def label_of(words: type[Labelled], value: str) -> str:
    """The label of a stored value; a value the vocabulary no longer has is shown as words anyway."""
    try:
        return words(value).label
    except ValueError:
        return value.replace("_", " ").capitalize()


class RaiserKind(Labelled):
    STAFF = "staff", "Member of staff"
    PATIENT = "patient", "Patient"
    CARER = "carer", "Carer or relative"
    PUBLIC = "public", "Member of the public"
    # A patient group, an advocate or a representative, for the people they speak for (DOMAIN.md).
    # Their concern runs on the clocks for patients and the public.
    REPRESENTATIVE = "representative", "Raising it for others (a patient group or advocate)"


class EscalationReason(Labelled):
    """Why a concern went up its route: stored on the escalate event, shown in words to the body it
    reaches (the packet says why, never who)."""

    ACKNOWLEDGE_BREACHED = "acknowledge_breached", "It was not acknowledged in time"
    FEEDBACK_BREACHED = "feedback_breached", "Feedback was not given in time"
    INACTIVITY_BREACHED = "inactivity_breached", "Nothing was done on it for too long"
    GUARDIAN_ESCALATED = "guardian_escalated", "The guardian sent it on"
    RAISER_ESCALATED = "raiser_escalated", "The raiser sent it on after the time for feedback passed"
    FEEDBACK_INADEQUATE = "feedback_inadequate", "The raiser judged the feedback inadequate"


class Theme(Labelled):
    """What a concern is about: the categories the national speaking-up data return asks for."""

    PATIENT_SAFETY = "patient_safety", "Patient safety or quality"
    WORKER_SAFETY = "worker_safety", "Worker safety or wellbeing"
    BULLYING = "bullying", "Bullying or harassment"
    BEHAVIOUR = "behaviour", "Inappropriate attitudes or behaviours"
    OTHER = "other", "Other"


class ProfessionalGroup(Labelled):
    """Who raised a concern, as the quarterly speaking-up data return counts them: the NHS staff
    groups, then those who are not staff. The labels here are defaults; operators may reword them
    (CANDOUR_PROFESSIONAL_GROUP_LABELS). Append new words at the end: the figures keep each group's
    pending changes by its position (backend.oversight.figures.GROUP_BUCKETS)."""

    MEDICAL_DENTAL = "medical_dental", "Medical and dental"
    NURSES_MIDWIVES = "nurses_midwives", "Registered nurses and midwives"
    NURSING_ASSISTANTS = "nursing_assistants", "Nursing or healthcare assistants"
    ALLIED_HEALTH = "allied_health", "Allied health professionals"
    SCIENTIFIC_TECHNICAL = "scientific_technical", "Additional professional, scientific and technical"
    ADDITIONAL_CLINICAL = "additional_clinical", "Additional clinical services"
    HEALTHCARE_SCIENTISTS = "healthcare_scientists", "Healthcare scientists"
    ADMIN_CLERICAL = "admin_clerical", "Administrative and clerical"
    CORPORATE = "corporate", "Corporate services"
    ESTATES_ANCILLARY = "estates_ancillary", "Estates and ancillary"
    # Students on placement and student raisers alike: one group, so the return never counts one twice.
    STUDENTS = "students", "Students"
    OTHER = "other", "Other"
    NOT_KNOWN = "not_known", "Not known"
    PATIENT = "patient", "Patient"
    CARER = "carer", "Carer or relative"
    PUBLIC = "public", "Member of the public"
    VOLUNTEER = "volunteer", "Volunteer"


class EventKind(Labelled):
    # The lifecycle's moves (one per transition in lifecycle.TRANSITIONS).
    ACKNOWLEDGE = "acknowledge", "Acknowledged"
    START_REVIEW = "start_review", "Review started"
    GIVE_FEEDBACK = "give_feedback", "Feedback given"
    CLOSE = "close", "Closed"
    ESCALATE = "escalate", "Escalated"
    WITHDRAW = "withdraw", "Withdrawn by the raiser"
    REOPEN = "reopen", "Reopened"
    # Everything else that happens to a concern.
    RAISED = "raised", "Concern raised"
    ASSIGNED = "assigned", "Placed with a handler"
    PLACED = "placed", "Placed on a ward or team"
    MESSAGE_TO_RAISER = "message_to_raiser", "Message to the raiser"
    MESSAGE_FROM_RAISER = "message_from_raiser", "Message from the raiser"
    INFORMATION_ADDED = "information_added", "More information added"
    DETRIMENT_REPORTED = "detriment_reported", "Detriment reported"
    NOTHING_DONE_REPORTED = "nothing_done_reported", "Raiser says nothing was done"
    SPEAK_UP_AGAIN_ANSWERED = "speak_up_again_answered", "Said whether they would speak up again"
    STATUS_SHARED = "status_shared", "The raiser let others follow its status by reference"
    STATUS_UNSHARED = "status_unshared", "The raiser stopped others following its status"
    IDENTITY_VIEWED = "identity_viewed", "Raiser's identity viewed"
    CLOCKS_PAUSED = "clocks_paused", "Deadlines paused"
    CLOCKS_RESUMED = "clocks_resumed", "Deadlines resumed"
    CLOCK_BREACHED = "clock_breached", "A deadline passed"
    # Those handling a concern write to each other: never to the raiser, never in the packet.
    STAFF_NOTE = "staff_note", "Staff note written (the raiser never sees it)"
    # Conflicts of interest: who must not handle the concern, and a placement refused for one.
    CONFLICT_DECLARED = "conflict_declared", "Conflict of interest declared"
    ASSIGN_REFUSED = "assign_refused", "Placement refused: conflict of interest"
    # The retention schedule (the system, not a person) deleting what it says is old.
    IDENTITY_FORGOTTEN = "identity_forgotten", "Raiser's identity deleted (retention schedule)"
    CASE_FILE_FORGOTTEN = "case_file_forgotten", "Case file deleted (retention schedule)"
    # What was done: actions agreed on a concern, each with an owner and a due date of its own.
    ACTION_RECORDED = "action_recorded", "Action agreed"
    ACTION_DONE = "action_done", "Action done"
    ACTION_OVERDUE = "action_overdue", "An agreed action's due date passed"
    CLOSED_WITHOUT_ACTION = "closed_without_action", "Upheld but closed with no action (reason recorded)"
    # The guardian corrected what the concern is about or who raised it (themes, professional group).
    RECLASSIFIED = "reclassified", "Classification corrected"
    # "You said, we did" and lessons shared across organisations (backend.learning).
    SUMMARY_WRITTEN = "summary_written", "Public summary written (you said, we did)"
    SUMMARY_APPROVED = "summary_approved", "Public summary approved by a second guardian"
    SUMMARY_OBJECTED = "summary_objected", "The raiser objected to the public summary"
    LESSON_SHARED = "lesson_shared", "Shared with other organisations as a lesson"
    LESSON_LINKED = "lesson_linked", "Linked to a lesson another organisation shared"
    LESSON_RECURS = "lesson_recurs", "Its lesson recurs in three or more providers"


class Action(Labelled):
    """What a guardian or handler may do on a case: the lifecycle's staff moves (named as in the
    transition table) and the work done while a concern is open. Pages and the API offer these."""

    ACKNOWLEDGE = "acknowledge", "Acknowledge"
    START_REVIEW = "start_review", "Start the review"
    GIVE_FEEDBACK = "give_feedback", "Give feedback"
    CLOSE = "close", "Close"
    ESCALATE = "escalate", "Escalate"
    REOPEN = "reopen", "Reopen"
    MESSAGE = "message", "Write to the raiser"
    NOTE = "note", "Write a staff note"
    ASSIGN = "assign", "Place with a handler"
    DECLARE_CONFLICT = "declare_conflict", "Declare a conflict of interest"
    PAUSE = "pause", "Pause the deadlines"
    RESUME = "resume", "Resume the deadlines"
    RECORD_ACTION = "record_action", "Record an action"
    COMPLETE_ACTION = "complete_action", "Mark an action done"
    RECLASSIFY = "reclassify", "Correct the classification"


class Outcome(Labelled):
    """What the guardian found, recorded on closing: upheld or partly upheld means something should
    change, so closing such a concern with no action recorded needs a reason and alerts governors."""

    UPHELD = "upheld", "Upheld"
    PARTLY_UPHELD = "partly_upheld", "Partly upheld"
    NOT_UPHELD = "not_upheld", "Not upheld"


UPHELD: frozenset[Outcome] = frozenset({Outcome.UPHELD, Outcome.PARTLY_UPHELD})


# The lifecycle's states as people read them (lifecycle.State holds the stored values).
STATE_LABELS: dict[str, str] = {
    "received": "Received",
    "acknowledged": "Acknowledged",
    "under_review": "Being looked into",
    "feedback_given": "Feedback given",
    "closed": "Closed",
    "escalated": "Escalated",
    "withdrawn": "Withdrawn",
    "reopened": "Reopened",
}

# The raiser's own history in their words: where an Event's label is written for staff ("Message from
# the raiser"), the raiser reads this instead; any other kind reads as its label.
RAISER_EVENT_LABELS: dict[EventKind, str] = {
    EventKind.RAISED: "You raised your concern",
    EventKind.ACKNOWLEDGE: "Acknowledged: they have your concern",
    EventKind.START_REVIEW: "They started looking into it",
    EventKind.WITHDRAW: "You withdrew your concern",
    EventKind.MESSAGE_TO_RAISER: "A message to you",
    EventKind.MESSAGE_FROM_RAISER: "Your message",
    EventKind.INFORMATION_ADDED: "You added more information",
    EventKind.DETRIMENT_REPORTED: "You told them you were treated badly for speaking up",
    EventKind.NOTHING_DONE_REPORTED: "You told them nothing was done",
    EventKind.SPEAK_UP_AGAIN_ANSWERED: "You said whether you would speak up again",
    EventKind.STATUS_SHARED: "You let others follow its status with the reference",
    EventKind.STATUS_UNSHARED: "You stopped others following its status",
    EventKind.ESCALATE: "Sent to the next organisation that oversees this one",
}


def raiser_event_label(kind: str) -> str:
    word = EventKind(kind)
    return RAISER_EVENT_LABELS.get(word, word.label)
