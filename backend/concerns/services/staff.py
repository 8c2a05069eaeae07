"""The moves guardians and handlers make on a concern they hold: each locks the concern, checks the
caller's role in scope and the transition table, and writes the change with its Event in one unit of
work inside one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import User
from django.db import transaction

from backend.concerns import scope
from backend.concerns.clocks import (
    ALL_KINDS,
    clock_build,
    clock_restart,
    clocks_pause,
    clocks_resume,
    clocks_start,
    clocks_stop,
    concern_facts,
)
from backend.concerns.models import (
    Channel,
    Clock,
    ClockStatus,
    Concern,
    Direction,
    IdentityMode,
    Message,
    MessageKind,
)
from backend.concerns.notices import sms_to_raiser
from backend.concerns.selectors import NOTES_STAY_AT_ORIGIN, StaffNote
from backend.concerns.services.actions import close_outcome_record
from backend.concerns.services.aftercare import aftercare_begin
from backend.concerns.services.common import (
    Act,
    actor_for,
    locked,
    locked_for_guardian,
    now_or,
    refuse_if_closed,
)
from backend.concerns.services.conflicts import conflicted_placement_record, conflicted_refusal, handler_conflicted
from backend.errors import Conflict, Forbidden, Invalid
from backend.organisations.models import Organisation, OrganisationKind
from backend.organisations.policies import policy_rules
from workflows.engine.lifecycle import Actor, State
from workflows.engine.policy import ClockKind
from workflows.engine.sidelining import Rule, is_bounced
from workflows.engine.vocabulary import EventKind, RaiserKind, Theme


def _staff_move(
    *,
    concern_id: int,
    user: User,
    name: EventKind,
    now: datetime,
    stop: Sequence[str] = (),
    reason: str = "",
) -> Act:
    """A member of staff moves a concern: role checked in scope, then the table; the caller adds
    what else the move does and calls ``done``."""
    concern = locked(concern_id)
    act = Act(concern, actor_for(user=user, concern=concern), user.pk, now)
    act.move(name, reason=reason)
    if stop:
        clocks_stop(concern_ids=[concern.pk], kinds=stop)
    return act


@transaction.atomic
def concern_acknowledge(*, concern_id: int, user: User, now: datetime | None = None) -> Concern:
    """Acknowledged: the acknowledge clock stops and the feedback clock counts from now."""
    now = now_or(now)
    act = _staff_move(
        concern_id=concern_id, user=user, name=EventKind.ACKNOWLEDGE, now=now, stop=[ClockKind.ACKNOWLEDGE]
    )
    clock_restart(act.work, concern=act.concern, kind=ClockKind.FEEDBACK, now=now)
    return act.done()


@transaction.atomic
def concern_start_review(*, concern_id: int, user: User, now: datetime | None = None) -> Concern:
    return _staff_move(concern_id=concern_id, user=user, name=EventKind.START_REVIEW, now=now_or(now)).done()


@transaction.atomic
def concern_give_feedback(*, concern_id: int, user: User, feedback: str, now: datetime | None = None) -> Concern:
    """Feedback is a message to the raiser and a move: both or neither."""
    now = now_or(now)
    stop = [ClockKind.ACKNOWLEDGE, ClockKind.FEEDBACK]
    concern = _staff_move(concern_id=concern_id, user=user, name=EventKind.GIVE_FEEDBACK, now=now, stop=stop).done()
    message = Message.objects.create(
        concern=concern,
        direction=Direction.TO_RAISER,
        kind=MessageKind.FEEDBACK,
        author=user,
        body=feedback,
        created_at=now,
    )
    sms_to_raiser(concern=concern, key=f"message:{message.pk}", text=feedback)
    return concern


@transaction.atomic
def concern_close(
    *,
    concern_id: int,
    user: User,
    reason: str,
    outcome: str = "",
    no_action_reason: str = "",
    now: datetime | None = None,
) -> Concern:
    """Closing is allowed without feedback (the raiser may have gone quiet), but governors are told.
    ``outcome``: what the guardian found (vocabulary.Outcome). An upheld or partly upheld concern
    closed with no action recorded needs ``no_action_reason`` (kept encrypted, beside its own Event)
    and opens a "closed without action" alert: something should have changed."""
    now = now_or(now)
    act = _staff_move(
        concern_id=concern_id, user=user, name=EventKind.CLOSE, now=now, stop=ALL_KINDS, reason=reason[:200]
    )
    if not Message.objects.filter(concern=act.concern, kind=MessageKind.FEEDBACK).exists():
        act.sidelined(Rule.CLOSED_WITHOUT_FEEDBACK)
    close_outcome_record(act, outcome=outcome, no_action_reason=no_action_reason)
    concern = act.done()
    # Check-ins after closure are scheduled, and an SMS raiser asked whether their number may be kept
    # for them; otherwise (and for a detriment case) the number is purged now, as it always was.
    aftercare_begin(concern=concern, now=now)
    return concern


@transaction.atomic
def concern_reopen(*, concern_id: int, user: User, now: datetime | None = None) -> Concern:
    now = now_or(now)
    act = _staff_move(concern_id=concern_id, user=user, name=EventKind.REOPEN, now=now)
    clocks_start(act.work, concern=act.concern, kinds=ALL_KINDS, now=now, first_start=True)
    return act.done()


def concern_assign(*, concern_id: int, user: User, handler: User, now: datetime | None = None) -> Concern:
    """A guardian places the concern with a handler. Each reassignment is counted: three or more is
    the "bounced between handlers" sidelining signal.

    Never with someone who must not handle it (a conflict of interest: named by the raiser or the
    guardian, or declared): the attempt is recorded and alerted in its own transaction, which
    commits, and only then refused (ConflictedHandler, 409), so the refusal cannot undo its record."""
    now = now_or(now)
    with transaction.atomic():
        concern = _assign(concern_id=concern_id, user=user, handler=handler, now=now)
    if concern is None:
        raise conflicted_refusal(person=handler)
    return concern


def _assign(*, concern_id: int, user: User, handler: User, now: datetime) -> Concern | None:
    """The placement, or None when ``handler`` is conflicted (the attempt recorded instead)."""
    concern = locked_for_guardian(
        concern_id=concern_id, user=user, refusal="Only the guardian places concerns with handlers."
    )
    refuse_if_closed(concern=concern, name="assign", actor=Actor.GUARDIAN)
    if not scope.may_be_assigned(user=handler, concern=concern):
        raise Forbidden("That person does not handle concerns for this organisation.")
    if handler_conflicted(concern=concern, person=handler):
        conflicted_placement_record(concern=concern, user=user, person=handler, now=now)
        return None
    previous = concern.assignee_id
    concern.assignee = handler
    if previous is not None and previous != handler.pk:
        concern.handovers += 1
    act = Act(concern, Actor.GUARDIAN, user.pk, now)
    act.active()
    act.record(EventKind.ASSIGNED, data={"handler": handler.pk, "previous": previous})
    if is_bounced(handovers=concern.handovers):
        act.sidelined(Rule.BOUNCED)
    return act.done()


@transaction.atomic
def concern_place_on_unit(*, concern_id: int, user: User, unit: Organisation, now: datetime | None = None) -> Concern:
    """A guardian says which ward or team an SMS concern (or a misplaced one) is about."""
    now = now_or(now)
    concern = locked_for_guardian(
        concern_id=concern_id, user=user, refusal="Only the guardian places a concern on a unit."
    )
    if unit.kind != OrganisationKind.UNIT or not unit.path.startswith(concern.holder.path):
        raise Forbidden("Choose a ward or team of the organisation holding the concern.")
    previous = concern.unit.code
    concern.unit = unit
    act = Act(concern, Actor.GUARDIAN, user.pk, now)
    act.record(EventKind.PLACED, data={"from": previous, "to": unit.code})
    return act.done()


@transaction.atomic
def concern_message_to_raiser(*, concern_id: int, user: User, body: str, now: datetime | None = None) -> Message:
    now = now_or(now)
    concern = locked(concern_id)
    actor = actor_for(user=user, concern=concern)
    refuse_if_closed(concern=concern, name="message", actor=actor)
    message = Message.objects.create(
        concern=concern, direction=Direction.TO_RAISER, author=user, body=body, created_at=now
    )
    act = Act(concern, actor, user.pk, now)
    act.active()
    act.record(EventKind.MESSAGE_TO_RAISER, data={"message": message.pk}, visible_to_raiser=True)
    act.done()
    sms_to_raiser(concern=concern, key=f"message:{message.pk}", text=body)
    return message


@transaction.atomic
def concern_note_add(*, concern_id: int, user: User, text: str, now: datetime | None = None) -> StaffNote:
    """A guardian or handler writes a note for those handling the concern with them. It is an Event
    (never visible to the raiser) whose words are a Reason, encrypted like the narrative: nothing here
    writes a Message or a Delivery, so no note can reach the raiser by any channel, and the packet
    leaves notes out (selectors.concern_case). A note is not "recorded activity": writing to one's
    colleagues does not answer the raiser, so it does not hold off the inactivity alert."""
    now = now_or(now)
    concern = locked(concern_id)
    actor = actor_for(user=user, concern=concern)
    if scope.outside_origin(user=user, concern=concern):
        raise Forbidden(NOTES_STAY_AT_ORIGIN)
    refuse_if_closed(concern=concern, name="note", actor=actor)
    if not text.strip():
        raise Invalid("a note needs some words")
    act = Act(concern, actor, user.pk, now)
    event = act.record(EventKind.STAFF_NOTE, reason=text)
    act.done(fields=["audit_seq", "audit_head"])
    return StaffNote(seq=event.seq, author=user.get_full_name() or user.get_username(), text=text, created_at=now)


@dataclass(frozen=True)
class RaiserIdentity:
    name: str
    contact: str


@transaction.atomic
def concern_identity_reveal(*, concern_id: int, user: User, now: datetime | None = None) -> RaiserIdentity:
    """Only a guardian sees a confidential raiser's identity, and every look is audited."""
    now = now_or(now)
    concern = locked(concern_id)
    actor = actor_for(user=user, concern=concern)
    if concern.identity_mode == IdentityMode.ANONYMOUS:
        return RaiserIdentity(name="", contact="")
    if concern.identity_mode == IdentityMode.CONFIDENTIAL and actor is not Actor.GUARDIAN:
        raise Forbidden("Only the guardian may see who raised a confidential concern.")
    if scope.outside_origin(user=user, concern=concern) and not (
        concern.identity_mode == IdentityMode.NAMED and concern.identity_shared_on_escalation
    ):
        # An escalation packet never says who raised it, unless a named raiser agreed.
        raise Forbidden("Bodies further up the route do not learn who raised a concern.")
    _audited(Act(concern, actor, user.pk, now), EventKind.IDENTITY_VIEWED)
    return RaiserIdentity(name=concern.raiser_name, contact=concern.raiser_contact)


def _audited(act: Act, kind: EventKind, data: dict[str, object] | None = None, *, reason: str = "") -> None:
    """An Event that changes nothing else on the concern but its chain's head."""
    act.record(kind, data=data, reason=reason)
    act.done(fields=["audit_seq", "audit_head"])


@transaction.atomic
def concern_clocks_pause(*, concern_id: int, user: User, reason: str, now: datetime | None = None) -> Concern:
    """Clocks stop counting only with a recorded reason (waiting on the raiser, say); audited."""
    now = now_or(now)
    concern = locked_for_guardian(
        concern_id=concern_id, user=user, refusal="Only the guardian pauses a concern's clocks."
    )
    if not reason.strip():
        raise Invalid("a pause needs a reason")
    if clocks_pause(concern=concern, reason=reason, now=now):
        _audited(Act(concern, Actor.GUARDIAN, user.pk, now), EventKind.CLOCKS_PAUSED, reason=reason[:200])
    return concern


@transaction.atomic
def concern_clocks_resume(*, concern_id: int, user: User, now: datetime | None = None) -> Concern:
    now = now_or(now)
    concern = locked_for_guardian(
        concern_id=concern_id, user=user, refusal="Only the guardian resumes a concern's clocks."
    )
    if clocks_resume(concern=concern, now=now):
        _audited(Act(concern, Actor.GUARDIAN, user.pk, now), EventKind.CLOCKS_RESUMED)
    return concern


# Placing an SMS concern: the guardian of the organisation that was texted says which of its wards or
# teams it is about and who raised it, so it runs on the clocks the policy gives that raiser and theme.
UNPLACED_ONLY = "Only a concern raised by text and not yet placed on a ward or team can be placed here."


@transaction.atomic
def concern_sms_place(
    *,
    concern_id: int,
    user: User,
    unit: Organisation,
    raiser_kind: RaiserKind,
    themes: Sequence[Theme],
    now: datetime | None = None,
) -> Concern:
    """A text arrives about the organisation texted, from a raiser Candour cannot ask who they are, so
    it starts on staff clocks under "other". Its guardian places it on one of their units and records
    who raised it and its themes; its running clocks are then rebuilt under the policy's rule for
    those facts. The time already passed counts: each clock keeps its original start (a patient's
    3 working days count from receipt, not from placing), so a raiser never waits longer because the
    guardian placed it late. A deadline that has passed by then fires at the next sweep, marked late.
    A paused clock stays paused (its pause moves the rebuilt deadline on when resumed)."""
    now = now_or(now)
    concern = locked_for_guardian(concern_id=concern_id, user=user, refusal="Only the guardian places a concern.")
    if scope.outside_origin(user=user, concern=concern):
        raise Forbidden("Only the guardian of the organisation texted places a concern.")
    if concern.channel != Channel.SMS or concern.unit.kind == OrganisationKind.UNIT:
        raise Conflict(UNPLACED_ONLY)
    refuse_if_closed(concern=concern, name="place", actor=Actor.GUARDIAN)
    if unit.kind != OrganisationKind.UNIT or not unit.path.startswith(concern.unit.path):
        raise Forbidden("Choose a ward or team of the organisation holding the concern.")
    chosen = sorted({Theme(t).value for t in themes})
    if not chosen:
        raise Invalid("choose at least one theme")
    before = {"unit": concern.unit.code, "raiser_kind": concern.raiser_kind, "themes": list(concern.themes)}
    concern.unit = unit
    concern.raiser_kind = RaiserKind(raiser_kind).value
    concern.themes = chosen
    act = Act(concern, Actor.GUARDIAN, user.pk, now)
    act.work.add(*_clocks_rebuilt(concern=concern))
    act.record(
        EventKind.PLACED,
        data={
            "from": before["unit"],
            "to": unit.code,
            "raiser_kind": concern.raiser_kind,
            "themes": chosen,
            "was": {"raiser_kind": before["raiser_kind"], "themes": before["themes"]},
        },
    )
    act.active()
    return act.done()


def _clocks_rebuilt(*, concern: Concern) -> list[Clock]:
    """The concern's running clocks stopped and built again for its facts now, each from its original
    counting start: an acknowledge clock from receipt, a feedback clock from acknowledgement (or, not
    yet acknowledged, from its fallback after receipt), the inactivity clock from the last activity."""
    running = list(Clock.objects.filter(concern=concern, status=ClockStatus.PENDING))
    clocks_stop(concern_ids=[concern.pk], kinds=[c.kind for c in running])
    policy = policy_rules(policy=concern.policy)
    facts = concern_facts(concern)
    unacknowledged = concern.state in (State.RECEIVED, State.REOPENED)
    rebuilt = []
    for old in running:
        rule = policy.rule_for(old.kind, facts)
        if rule is None:
            continue
        start = old.started_at
        if old.kind == ClockKind.INACTIVITY:
            start = concern.last_activity_at
        elif old.kind == ClockKind.FEEDBACK and unacknowledged:
            start = rule.fallback_start(old.started_at) or old.started_at
        clock = clock_build(concern=concern, rule=rule, start=start, now=old.started_at)
        clock.paused_at, clock.pause_reason = old.paused_at, old.pause_reason
        rebuilt.append(clock)
    return rebuilt
