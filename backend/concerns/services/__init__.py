"""Use cases that change concerns: the only code that writes them, one module per actor.

- intake: raising a concern (web, API, SMS), one statement.
- raiser: what the raiser does with their receipt: write, withdraw, answer, escalate when overdue.
- staff: the moves guardians and handlers make.
- actions: what was done: actions agreed on a concern, done with evidence, alerted once overdue.
- conflicts: who must not handle a concern (declared or named), and the refusal to place it with them.
- aftercare: after closure: check-ins at 1, 3, 6 and 12 months, consent to be texted, detriment cases.
- escalation: one step up the route, shared by people and the sweep.
- sweep: the clock sweep, firing every clock that has fallen due.
- retention: what the retention schedule forgets of concerns long ended (backend.retention runs it).

Each service locks what it changes, asks the rulebook (workflows.engine) what is allowed and when
clocks fall due, and writes the change, its Events and its clocks through one unit of work
(backend.config.db) in one transaction. Entry points reach every use case here.
"""

from backend.concerns.selectors import StaffNote
from backend.concerns.services.actions import actions_overdue_alert, concern_action_complete, concern_action_record
from backend.concerns.services.aftercare import (
    CheckInAnswered,
    TextHandled,
    aftercare_sweep,
    aftercare_text,
    concern_aftercare_consent,
    concern_check_in_answer,
    concern_detriment_report_after_closure,
)
from backend.concerns.services.classification import concern_reclassify
from backend.concerns.services.conflicts import concern_conflict_declare
from backend.concerns.services.escalation import concern_escalate_by_guardian
from backend.concerns.services.intake import (
    ConcernDraft,
    DuplicateSubmission,
    RaisedConcern,
    concern_import,
    concern_raise,
)
from backend.concerns.services.raiser import (
    TooManyAttempts,
    concern_answer_speak_up_again,
    concern_escalate_by_raiser,
    concern_for_receipt,
    concern_message_from_raiser,
    concern_reopen_by_raiser,
    concern_status_share,
    concern_withdraw,
)
from backend.concerns.services.staff import (
    RaiserIdentity,
    concern_acknowledge,
    concern_assign,
    concern_clocks_pause,
    concern_clocks_resume,
    concern_close,
    concern_give_feedback,
    concern_identity_reveal,
    concern_message_to_raiser,
    concern_note_add,
    concern_place_on_unit,
    concern_reopen,
    concern_sms_place,
    concern_start_review,
)
from backend.concerns.services.sweep import SWEEP_BATCH, SweepResult, clocks_fire_due

__all__ = [
    "SWEEP_BATCH",
    "CheckInAnswered",
    "ConcernDraft",
    "DuplicateSubmission",
    "RaisedConcern",
    "RaiserIdentity",
    "StaffNote",
    "SweepResult",
    "TextHandled",
    "TooManyAttempts",
    "actions_overdue_alert",
    "aftercare_sweep",
    "aftercare_text",
    "clocks_fire_due",
    "concern_acknowledge",
    "concern_action_complete",
    "concern_action_record",
    "concern_aftercare_consent",
    "concern_answer_speak_up_again",
    "concern_assign",
    "concern_check_in_answer",
    "concern_clocks_pause",
    "concern_clocks_resume",
    "concern_close",
    "concern_conflict_declare",
    "concern_detriment_report_after_closure",
    "concern_escalate_by_guardian",
    "concern_escalate_by_raiser",
    "concern_for_receipt",
    "concern_give_feedback",
    "concern_identity_reveal",
    "concern_import",
    "concern_message_from_raiser",
    "concern_message_to_raiser",
    "concern_note_add",
    "concern_place_on_unit",
    "concern_raise",
    "concern_reclassify",
    "concern_reopen",
    "concern_reopen_by_raiser",
    "concern_sms_place",
    "concern_start_review",
    "concern_status_share",
    "concern_withdraw",
]
