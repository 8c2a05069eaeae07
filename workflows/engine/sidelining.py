"""What counts as sidelining a concern (DOMAIN.md), as named rules with small pure predicates.

Each rule opens at most one open Alert per concern; once resolved it does not open again for that
concern unless the concern is top priority (urgent), which is never exempt from re-alerting.
"""

from __future__ import annotations

from enum import StrEnum


class Rule(StrEnum):
    UNACKNOWLEDGED = "unacknowledged"  # no acknowledgement in time
    FEEDBACK_OVERDUE = "feedback_overdue"  # no feedback in time
    INACTIVE = "inactive"  # no recorded activity for the inactivity period
    BOUNCED = "bounced"  # reassigned or escalated three or more times
    CLOSED_WITHOUT_FEEDBACK = "closed_without_feedback"
    DETRIMENT = "detriment"  # the raiser reports being treated badly for speaking up
    NOTHING_DONE = "nothing_done"  # the raiser says nothing was done
    REPEAT = "repeat"  # a new concern on the same unit and theme while an earlier one is open
    # someone tried to place the concern with a person who must not handle it (named or declared)
    CONFLICTED_ASSIGNMENT = "conflicted_assignment"
    ACTION_OVERDUE = "action_overdue"  # an action agreed on the concern passed its due date undone
    CLOSED_WITHOUT_ACTION = "closed_without_action"  # upheld, then closed with no action recorded
    # the raiser reports detriment after their concern closed (a check-in, their receipt, a text)
    DETRIMENT_AFTER_CLOSURE = "detriment_after_closure"
    # a lesson shared from the concern was marked "we have this too" by three or more providers
    LESSON_RECURS = "lesson_recurs"


LABELS: dict[Rule, str] = {
    Rule.UNACKNOWLEDGED: "Not acknowledged in time",
    Rule.FEEDBACK_OVERDUE: "No feedback in time",
    Rule.INACTIVE: "No recorded activity",
    Rule.BOUNCED: "Passed between handlers or organisations",
    Rule.CLOSED_WITHOUT_FEEDBACK: "Closed without feedback to the raiser",
    Rule.DETRIMENT: "Raiser reports detriment",
    Rule.NOTHING_DONE: "Raiser says nothing was done",
    Rule.REPEAT: "Another concern on the same unit and theme is still open",
    # Says that it happened, never who was named or by whom.
    Rule.CONFLICTED_ASSIGNMENT: "Placement with someone who has a conflict of interest attempted",
    Rule.ACTION_OVERDUE: "An agreed action is overdue",
    Rule.CLOSED_WITHOUT_ACTION: "Upheld but closed with no action",
    Rule.DETRIMENT_AFTER_CLOSURE: "Detriment reported after closure",
    Rule.LESSON_RECURS: "A lesson recurs across three or more providers",
}

# Which alert a breached clock raises when its policy says alert_governors.
BREACH_RULE: dict[str, Rule] = {
    "acknowledge": Rule.UNACKNOWLEDGED,
    "feedback": Rule.FEEDBACK_OVERDUE,
    "inactivity": Rule.INACTIVE,
}

BOUNCE_THRESHOLD = 3


def is_bounced(*, handovers: int) -> bool:
    """Handovers: reassignments after the first placement, plus escalations between organisations."""
    return handovers >= BOUNCE_THRESHOLD


def may_alert_again(*, already_alerted: bool, urgent: bool) -> bool:
    return urgent or not already_alerted
