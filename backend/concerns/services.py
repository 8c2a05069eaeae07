"""Use cases that change concerns: the only code that writes them.

Each service locks what it changes, asks the rulebook (workflows.engine) what is allowed and when
clocks fall due, and writes the change, its Event and its clocks in one transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from backend.concerns import scope
from backend.concerns.audit import event_append
from backend.concerns.crypto import (
    receipt_digest,
    receipt_new,
    receipt_normalise,
    reference_new,
    submission_digest,
)
from backend.concerns.models import (
    Clock,
    ClockStatus,
    Concern,
    Direction,
    IdentityMode,
    Message,
    MessageKind,
    Receipt,
    ReceiptGuessWindow,
    SpeakUpAgain,
)
from backend.organisations.models import Organisation
from workflows.engine import lifecycle
from workflows.engine.lifecycle import Actor
from workflows.engine.policy import BreachAction, ClockKind, acknowledge_rule

logger = logging.getLogger(__name__)

SWEEP_BATCH = 200
# A clock fired more than this after it fell due is marked late: the sweep was down or behind.
LATE_AFTER = timedelta(minutes=5)


class DuplicateSubmission(Exception):
    """This form or request was already received; the receipt was shown then and cannot be shown again."""

    def __init__(self, reference: str) -> None:
        super().__init__(f"already received as {reference}")
        self.reference = reference


class TooManyAttempts(Exception):
    """The global ceiling on receipt look-ups was reached; try again in a minute."""


@dataclass(frozen=True)
class RaisedConcern:
    concern: Concern
    receipt: str  # shown once to the raiser, never stored


def _now(now: datetime | None) -> datetime:
    return now if now is not None else timezone.now()


def _clock_start(*, concern: Concern, now: datetime) -> Clock:
    rule = acknowledge_rule(raiser_kind=concern.raiser_kind, urgent=concern.urgent)
    due = rule.due(start=now, calendar=concern.holder.calendar)
    return Clock.objects.create(
        concern=concern,
        kind=rule.kind,
        holder=concern.holder,
        route_level=concern.route_level,
        started_at=now,
        due_at=due,
    )


@transaction.atomic
def concern_raise(
    *,
    unit: Organisation,
    raiser_kind: str,
    identity_mode: str,
    themes: Sequence[str],
    what_happened: str,
    urgent: bool = False,
    when_happened: str = "",
    desired_outcome: str = "",
    raised_before: bool | None = None,
    professional_group: str = "",
    raiser_name: str = "",
    raiser_contact: str = "",
    channel: str = "web",
    submission_key: str = "",
    now: datetime | None = None,
) -> RaisedConcern:
    """Record a concern, its receipt, its first Event and its acknowledge clock, all or nothing.

    ``submission_key`` (the form's one-time token, or an API Idempotency-Key) makes a resubmission
    (a refresh, a retried request) raise DuplicateSubmission instead of a second concern."""
    now = _now(now)
    submission = submission_digest(submission_key) if submission_key else None
    if submission and (earlier := Concern.objects.filter(submission_digest=submission).first()):
        raise DuplicateSubmission(earlier.reference)
    received_at = now.replace(minute=0, second=0, microsecond=0) if identity_mode == IdentityMode.ANONYMOUS else now
    if identity_mode == IdentityMode.ANONYMOUS:
        raiser_name = raiser_contact = ""
    concern = Concern(
        raiser_kind=raiser_kind,
        professional_group=professional_group,
        identity_mode=identity_mode,
        themes=sorted(set(themes)),
        urgent=urgent,
        channel=channel,
        unit=unit,
        holder=unit,
        route_level=0,
        what_happened=what_happened,
        when_happened=when_happened,
        desired_outcome=desired_outcome,
        raised_before=raised_before,
        raiser_name=raiser_name,
        raiser_contact=raiser_contact,
        received_at=received_at,
        last_activity_at=received_at,
        submission_digest=submission,
    )
    for _ in range(5):
        concern.reference = reference_new()
        try:
            with transaction.atomic():
                concern.save()
            break
        except IntegrityError:
            if submission and (earlier := Concern.objects.filter(submission_digest=submission).first()):
                raise DuplicateSubmission(earlier.reference) from None  # the same form, sent twice at once
            # A reference collision (about one in 10^11 per pair): draw another.
            concern.pk = None
    else:  # pragma: no cover - would need five collisions in a row
        raise RuntimeError("could not allocate a concern reference")
    receipt = receipt_new()
    Receipt.objects.create(concern=concern, digest=receipt_digest(receipt_normalise(receipt) or ""))
    event_append(
        concern=concern,
        kind="raised",
        actor_id=None,
        actor_role=Actor.RAISER,
        now=received_at,
        to_state=concern.state,
        data={"unit": unit.code, "channel": channel},
        visible_to_raiser=True,
    )
    _clock_start(concern=concern, now=received_at)
    concern.save(update_fields=["audit_seq", "audit_head"])
    logger.info("concern raised id=%s", concern.pk)
    return RaisedConcern(concern=concern, receipt=receipt)


def _count_attempt(now: datetime) -> int:
    window = now.replace(second=0, microsecond=0)
    updated = ReceiptGuessWindow.objects.filter(window_start=window).update(attempts=F("attempts") + 1)
    if not updated:
        try:
            with transaction.atomic():
                ReceiptGuessWindow.objects.create(window_start=window, attempts=1)
        except IntegrityError:
            ReceiptGuessWindow.objects.filter(window_start=window).update(attempts=F("attempts") + 1)
    return ReceiptGuessWindow.objects.values_list("attempts", flat=True).get(window_start=window)


def concern_for_receipt(*, code: str, now: datetime | None = None) -> Concern | None:
    """The concern a receipt opens, or None. A malformed code costs the same work as a wrong one,
    so the answer and its timing say nothing about which it was."""
    now = _now(now)
    if _count_attempt(now) > settings.CANDOUR_RECEIPT_ATTEMPTS_PER_MINUTE:
        raise TooManyAttempts
    normalised = receipt_normalise(code)
    digest = receipt_digest(normalised if normalised is not None else "!" + code[:64])
    receipt = Receipt.objects.select_related("concern").filter(digest=digest).first()
    return receipt.concern if receipt and normalised is not None else None


def _actor_for(*, user: User, concern: Concern) -> Actor:
    actor = scope.actor_for(user=user, concern=concern)
    if actor is None:
        raise PermissionDenied("You do not handle this concern.")
    return actor


def _transition(
    *,
    concern: Concern,
    name: str,
    actor: Actor,
    actor_id: int | None,
    now: datetime,
    data: dict[str, object] | None = None,
) -> None:
    """Move the state (checked against the table), append the Event and record the activity."""
    before = concern.state
    lifecycle.check(name=name, state=before, actor=actor)
    getattr(concern, name)()
    concern.last_activity_at = now
    event_append(
        concern=concern,
        kind=name,
        actor_id=actor_id,
        actor_role=actor,
        now=now,
        from_state=before,
        to_state=concern.state,
        data=data,
        visible_to_raiser=True,
    )


def _stop_clocks(*, concern: Concern, kinds: Sequence[str]) -> None:
    Clock.objects.filter(concern=concern, status=ClockStatus.PENDING, kind__in=kinds).update(status=ClockStatus.STOPPED)


def _locked(concern_id: int) -> Concern:
    # FOR UPDATE: the sweep may be escalating this very concern; whoever locks first decides.
    return Concern.objects.select_for_update(of=("self",)).select_related("holder").get(pk=concern_id)


def _staff_move(
    *,
    concern_id: int,
    user: User,
    name: str,
    now: datetime | None,
    stop: Sequence[str] = (),
    data: dict[str, object] | None = None,
) -> Concern:
    """A member of staff moves a concern: role checked in scope, then the table, then one write."""
    now = _now(now)
    concern = _locked(concern_id)
    actor = _actor_for(user=user, concern=concern)
    _transition(concern=concern, name=name, actor=actor, actor_id=user.pk, now=now, data=data)
    if stop:
        _stop_clocks(concern=concern, kinds=stop)
    concern.save()
    return concern


@transaction.atomic
def concern_acknowledge(*, concern_id: int, user: User, now: datetime | None = None) -> Concern:
    return _staff_move(concern_id=concern_id, user=user, name="acknowledge", now=now, stop=[ClockKind.ACKNOWLEDGE])


@transaction.atomic
def concern_assign(*, concern_id: int, user: User, handler: User, now: datetime | None = None) -> Concern:
    """A guardian places the concern with a handler. Each reassignment is counted: three or more is
    the "bounced between handlers" sidelining signal."""
    now = _now(now)
    concern = _locked(concern_id)
    if _actor_for(user=user, concern=concern) is not Actor.GUARDIAN:
        raise PermissionDenied("Only the guardian places concerns with handlers.")
    if concern.state in lifecycle.TERMINAL:
        raise lifecycle.IllegalTransition("assign", concern.state, Actor.GUARDIAN)
    if not scope.may_be_assigned(user=handler, concern=concern):
        raise PermissionDenied("That person does not handle concerns for this organisation.")
    previous = concern.assignee_id
    concern.assignee = handler
    concern.last_activity_at = now
    event_append(
        concern=concern,
        kind="assigned",
        actor_id=user.pk,
        actor_role=Actor.GUARDIAN,
        now=now,
        data={"handler": handler.pk, "previous": previous},
    )
    concern.save()
    return concern


@transaction.atomic
def concern_start_review(*, concern_id: int, user: User, now: datetime | None = None) -> Concern:
    return _staff_move(concern_id=concern_id, user=user, name="start_review", now=now)


@transaction.atomic
def concern_give_feedback(*, concern_id: int, user: User, feedback: str, now: datetime | None = None) -> Concern:
    """Feedback is a message to the raiser and a move: both or neither."""
    now = _now(now)
    concern = _staff_move(
        concern_id=concern_id,
        user=user,
        name="give_feedback",
        now=now,
        stop=[ClockKind.ACKNOWLEDGE, ClockKind.FEEDBACK],
    )
    Message.objects.create(
        concern=concern,
        direction=Direction.TO_RAISER,
        kind=MessageKind.FEEDBACK,
        author=user,
        body=feedback,
        created_at=now,
    )
    return concern


@transaction.atomic
def concern_close(*, concern_id: int, user: User, reason: str, now: datetime | None = None) -> Concern:
    return _staff_move(
        concern_id=concern_id,
        user=user,
        name="close",
        now=now,
        stop=[k.value for k in ClockKind],
        data={"reason": reason[:200]},
    )


@transaction.atomic
def concern_reopen(*, concern_id: int, user: User, now: datetime | None = None) -> Concern:
    concern = _staff_move(concern_id=concern_id, user=user, name="reopen", now=now)
    _clock_start(concern=concern, now=_now(now))
    return concern


@transaction.atomic
def concern_message_to_raiser(*, concern_id: int, user: User, body: str, now: datetime | None = None) -> Message:
    now = _now(now)
    concern = _locked(concern_id)
    actor = _actor_for(user=user, concern=concern)
    if concern.state in lifecycle.TERMINAL:
        raise lifecycle.IllegalTransition("message", concern.state, actor)
    message = Message.objects.create(
        concern=concern, direction=Direction.TO_RAISER, author=user, body=body, created_at=now
    )
    concern.last_activity_at = now
    event_append(
        concern=concern,
        kind="message_to_raiser",
        actor_id=user.pk,
        actor_role=actor,
        now=now,
        data={"message": message.pk},
        visible_to_raiser=True,
    )
    concern.save()
    return message


RAISER_MESSAGE_EVENTS = {
    MessageKind.MESSAGE: "message_from_raiser",
    MessageKind.INFORMATION: "information_added",
    MessageKind.DETRIMENT: "detriment_reported",
}


@transaction.atomic
def concern_message_from_raiser(
    *, concern_id: int, body: str, kind: str = MessageKind.MESSAGE, now: datetime | None = None
) -> Message:
    """The raiser writes: a message, more information, or a report of detriment (harm for speaking up)."""
    now = _now(now)
    concern = _locked(concern_id)
    if concern.state in lifecycle.TERMINAL:
        raise lifecycle.IllegalTransition("message", concern.state, Actor.RAISER)
    message = Message.objects.create(
        concern=concern, direction=Direction.FROM_RAISER, kind=kind, body=body, created_at=now
    )
    if kind == MessageKind.DETRIMENT:
        concern.detriment_reported = True
    concern.last_activity_at = now
    event_append(
        concern=concern,
        kind=RAISER_MESSAGE_EVENTS[MessageKind(kind)],
        actor_id=None,
        actor_role=Actor.RAISER,
        now=now,
        data={"message": message.pk},
        visible_to_raiser=True,
    )
    concern.save()
    return message


@transaction.atomic
def concern_withdraw(*, concern_id: int, now: datetime | None = None) -> Concern:
    now = _now(now)
    concern = _locked(concern_id)
    _transition(concern=concern, name="withdraw", actor=Actor.RAISER, actor_id=None, now=now)
    _stop_clocks(concern=concern, kinds=[k.value for k in ClockKind])
    concern.save()
    return concern


SPEAK_UP_STATES = frozenset({lifecycle.State.FEEDBACK_GIVEN, lifecycle.State.CLOSED})


@transaction.atomic
def concern_answer_speak_up_again(*, concern_id: int, answer: str, now: datetime | None = None) -> Concern:
    """ "Given your experience, would you speak up again?" asked once feedback is given, answered once."""
    now = _now(now)
    concern = _locked(concern_id)
    if concern.state not in SPEAK_UP_STATES or concern.would_speak_up_again:
        raise lifecycle.IllegalTransition("answer_speak_up_again", concern.state, Actor.RAISER)
    concern.would_speak_up_again = SpeakUpAgain(answer)
    event_append(
        concern=concern,
        kind="speak_up_again_answered",
        actor_id=None,
        actor_role=Actor.RAISER,
        now=now,
        data={"answer": answer},
        visible_to_raiser=True,
    )
    concern.save()
    return concern


@dataclass(frozen=True)
class RaiserIdentity:
    name: str
    contact: str


@transaction.atomic
def concern_identity_reveal(*, concern_id: int, user: User, now: datetime | None = None) -> RaiserIdentity:
    """Only a guardian sees a confidential raiser's identity, and every look is audited."""
    now = _now(now)
    concern = _locked(concern_id)
    actor = _actor_for(user=user, concern=concern)
    if concern.identity_mode == IdentityMode.ANONYMOUS:
        return RaiserIdentity(name="", contact="")
    if concern.identity_mode == IdentityMode.CONFIDENTIAL and actor is not Actor.GUARDIAN:
        raise PermissionDenied("Only the guardian may see who raised a confidential concern.")
    event_append(concern=concern, kind="identity_viewed", actor_id=user.pk, actor_role=actor, now=now)
    concern.save(update_fields=["audit_seq", "audit_head"])
    return RaiserIdentity(name=concern.raiser_name, contact=concern.raiser_contact)


def _escalate(*, concern: Concern, actor: Actor, actor_id: int | None, now: datetime, reason: str) -> bool:
    """One step up the route. False when the concern is already at the top."""
    target = concern.holder.escalates_to
    if target is None:
        return False
    before = concern.holder
    _stop_clocks(concern=concern, kinds=[k.value for k in ClockKind])
    concern.holder = target
    concern.route_level += 1
    _transition(
        concern=concern,
        name="escalate",
        actor=actor,
        actor_id=actor_id,
        now=now,
        data={"from": before.code, "to": target.code, "level": concern.route_level, "reason": reason},
    )
    _clock_start(concern=concern, now=now)
    return True


def _clock_fire(*, clock: Clock, now: datetime) -> None:
    concern = _locked(clock.concern_id)
    clock.status = ClockStatus.FIRED
    clock.fired_at = now
    clock.late = now - clock.due_at > LATE_AFTER
    clock.save(update_fields=["status", "fired_at", "late"])
    # Re-check the world at fire time: the concern may have moved on since the clock was started.
    if concern.state in lifecycle.TERMINAL or concern.route_level != clock.route_level:
        return
    rule = acknowledge_rule(raiser_kind=concern.raiser_kind, urgent=concern.urgent)
    if rule.on_breach is BreachAction.ESCALATE:
        escalated = _escalate(
            concern=concern, actor=Actor.SYSTEM, actor_id=None, now=now, reason=f"{clock.kind}_breached"
        )
        if escalated:
            concern.save()


def clocks_fire_due(*, now: datetime | None = None, batch_size: int = SWEEP_BATCH) -> int:
    """Fire every clock that has fallen due, in batches; returns how many fired.

    SKIP LOCKED lets two sweeps run at once without waiting on or repeating each other's clocks; the
    status check in the same locked read makes a clock fire once, whatever runs twice.
    """
    now = _now(now)
    fired = 0
    while True:
        with transaction.atomic():
            due = list(
                Clock.objects.select_for_update(skip_locked=True)
                .filter(status=ClockStatus.PENDING, due_at__lte=now)
                .order_by("due_at")[:batch_size]
            )
            for clock in due:
                _clock_fire(clock=clock, now=now)
            fired += len(due)
        if len(due) < batch_size:
            return fired
