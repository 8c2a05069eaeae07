"""Use cases that change concerns: the only code that writes them.

Each service locks what it changes, asks the rulebook (workflows.engine) what is allowed and when
clocks fall due, and writes the change, its Event and its clocks in one transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.db.models.functions import Length
from django.utils import timezone

from backend.concerns import scope, selectors
from backend.concerns.audit import event_append, raised_event_build
from backend.concerns.clocks import (
    ALL_KINDS,
    clock_restart,
    clocks_build,
    clocks_pause,
    clocks_resume,
    clocks_start,
    clocks_stop,
    inactivity_touch,
)
from backend.concerns.crypto import (
    receipt_digest,
    receipt_new,
    receipt_normalise,
    reference_new,
    submission_digest,
)
from backend.concerns.escalation import escalation_step
from backend.concerns.models import (
    Concern,
    Direction,
    IdentityMode,
    Message,
    MessageKind,
    Receipt,
    ReceiptGuessWindow,
    SpeakUpAgain,
)
from backend.concerns.notices import Directory, escalation_notices, notices_send, raised_notices

# The sweep lives in its own module; entry points reach it here, with every other use case.
from backend.concerns.sweep import clocks_fire_due as clocks_fire_due
from backend.concerns.vault import OPEN_STATES, vault_purge_for_concern
from backend.config.db import ids_reserve, rows_insert_together
from backend.organisations.models import Organisation, OrganisationKind
from backend.organisations.policies import policy_for_organisation
from backend.oversight.figures import figure_deltas, figures_record
from backend.oversight.services import alerts_open
from notifications.services import DeliveryRequest, deliveries_build, deliveries_send_after_commit
from workflows.engine import lifecycle
from workflows.engine.lifecycle import Actor
from workflows.engine.policy import ClockKind
from workflows.engine.sidelining import Rule, is_bounced

logger = logging.getLogger(__name__)


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
    contact_token: str = "",
    submission_key: str = "",
    now: datetime | None = None,
) -> RaisedConcern:
    """Record a concern with its receipt, its first Event, its clocks, its figures and the notices to
    its guardians, all or nothing, in one statement (the raiser waits for this, so it is one round
    trip, not a dozen). Detectors that look at its arrival (a repeat on the same unit and theme) run
    in the arrival sweep within seconds (``concerns_arrival_check``): governors are not waiting on
    the raiser, and the raiser should not wait on them.

    ``submission_key`` (the form's one-time token, or an API Idempotency-Key) makes a resubmission
    (a refresh, a retried request) raise DuplicateSubmission instead of a second concern."""
    now = _now(now)
    submission = submission_digest(submission_key) if submission_key else None
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
        contact_token=contact_token,
        policy=policy_for_organisation(organisation=unit),
    )
    receipt = receipt_new()
    guardians = Directory.guardians_above(unit)
    # No transaction of its own: the writes are one statement, atomic by itself (inside a caller's
    # transaction, an inbound text's, it joins that one), which saves the raiser two round trips.
    for _ in range(5):
        concern.pk = ids_reserve(Concern)
        concern.reference = reference_new()
        concern.audit_seq, concern.audit_head = 0, ""
        event = raised_event_build(concern=concern, channel=channel, now=received_at)
        deliveries = deliveries_build(requests=raised_notices(directory=guardians, concern=concern), now=now)
        written = rows_insert_together(
            concern,
            [
                [Receipt(concern=concern, digest=receipt_digest(receipt_normalise(receipt) or ""))],
                [event],
                clocks_build(concern=concern, kinds=ALL_KINDS, now=received_at, first_start=True),
                figure_deltas(events=[event]),
                deliveries,
            ],
        )
        if written is not None:
            break
        if submission and (earlier := Concern.objects.filter(submission_digest=submission).first()):
            raise DuplicateSubmission(earlier.reference)  # the same form, sent again or twice at once
        # A reference collision (about one in 10^11 per pair), or on SQLite a key taken by a
        # concurrent raise: draw both again.
    else:  # pragma: no cover - would need five collisions in a row
        raise RuntimeError("could not allocate a concern reference")
    deliveries_send_after_commit(delivery_ids=written[-1])
    logger.info("concern raised id=%s", concern.pk)
    return RaisedConcern(concern=concern, receipt=receipt)


def _earlier_open_on_unit_and_theme(concern: Concern) -> bool:
    """An open concern raised before this one about the same unit, sharing a theme. On PostgreSQL one
    indexed EXISTS (jsonb ?| on the themes array); SQLite, for the embedded demo only, reads the
    unit's open themes."""
    others = Concern.objects.filter(unit_id=concern.unit_id, state__in=OPEN_STATES, pk__lt=concern.pk)
    if connection.vendor == "postgresql":
        return others.filter(themes__has_any_keys=list(concern.themes)).exists()
    themes = set(concern.themes)
    return any(themes & set(other) for other in others.values_list("themes", flat=True).iterator(chunk_size=500))


ARRIVAL_BATCH = 200


def concerns_arrival_check(*, now: datetime | None = None) -> int:
    """Run the arrival detectors once for every concern still waiting for them. A concern about a
    unit where an earlier concern sharing a theme is still open opens a "repeat" alert (its
    governors' notices in the same transaction). Concerns another worker holds are skipped: they are
    that worker's. Returns how many were checked."""
    now = _now(now)
    checked = 0
    while True:
        with transaction.atomic():
            waiting = Concern.objects.filter(arrival_checks_pending=True).select_related("unit", "holder")
            batch = list(waiting.order_by("pk").select_for_update(skip_locked=True, of=("self",))[:ARRIVAL_BATCH])
            if not batch:
                return checked
            repeats = [(c, Rule.REPEAT) for c in batch if c.state in OPEN_STATES and _earlier_open_on_unit_and_theme(c)]
            alerts_open(items=repeats, now=now)
            Concern.objects.filter(pk__in=[c.pk for c in batch]).update(arrival_checks_pending=False)
            checked += len(batch)


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


def _locked_for_guardian(*, concern_id: int, user: User, refusal: str) -> Concern:
    """The concern, locked, for a move only its guardian makes; PermissionDenied(refusal) for anyone else."""
    concern = _locked(concern_id)
    if _actor_for(user=user, concern=concern) is not Actor.GUARDIAN:
        raise PermissionDenied(refusal)
    return concern


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
    inactivity_touch(concern=concern, now=now)
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


def _locked(concern_id: int) -> Concern:
    # FOR UPDATE: the sweep may be escalating this very concern; whoever locks first decides.
    return (
        Concern.objects.select_for_update(of=("self",))
        .select_related("holder", "holder__escalates_to", "unit", "policy")
        .get(pk=concern_id)
    )


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
        clocks_stop(concern_ids=[concern.pk], kinds=stop)
    concern.save()
    return concern


@transaction.atomic
def concern_acknowledge(*, concern_id: int, user: User, now: datetime | None = None) -> Concern:
    """Acknowledged: the acknowledge clock stops and the feedback clock counts from now."""
    now = _now(now)
    concern = _staff_move(concern_id=concern_id, user=user, name="acknowledge", now=now, stop=[ClockKind.ACKNOWLEDGE])
    clock_restart(concern=concern, kind=ClockKind.FEEDBACK, now=now)
    return concern


@transaction.atomic
def concern_assign(*, concern_id: int, user: User, handler: User, now: datetime | None = None) -> Concern:
    """A guardian places the concern with a handler. Each reassignment is counted: three or more is
    the "bounced between handlers" sidelining signal."""
    now = _now(now)
    concern = _locked_for_guardian(
        concern_id=concern_id, user=user, refusal="Only the guardian places concerns with handlers."
    )
    if concern.state in lifecycle.TERMINAL:
        raise lifecycle.IllegalTransition("assign", concern.state, Actor.GUARDIAN)
    if not scope.may_be_assigned(user=handler, concern=concern):
        raise PermissionDenied("That person does not handle concerns for this organisation.")
    previous = concern.assignee_id
    concern.assignee = handler
    concern.last_activity_at = now
    if previous is not None and previous != handler.pk:
        concern.handovers += 1
    inactivity_touch(concern=concern, now=now)
    event_append(
        concern=concern,
        kind="assigned",
        actor_id=user.pk,
        actor_role=Actor.GUARDIAN,
        now=now,
        data={"handler": handler.pk, "previous": previous},
    )
    concern.save()
    if is_bounced(handovers=concern.handovers):
        alerts_open(items=[(concern, Rule.BOUNCED)], now=now)
    return concern


@transaction.atomic
def concern_place_on_unit(*, concern_id: int, user: User, unit: Organisation, now: datetime | None = None) -> Concern:
    """A guardian says which ward or team an SMS concern (or a misplaced one) is about."""
    now = _now(now)
    concern = _locked_for_guardian(
        concern_id=concern_id, user=user, refusal="Only the guardian places a concern on a unit."
    )
    if unit.kind != OrganisationKind.UNIT or not unit.path.startswith(concern.holder.path):
        raise PermissionDenied("Choose a ward or team of the organisation holding the concern.")
    previous = concern.unit.code
    concern.unit = unit
    event_append(
        concern=concern,
        kind="placed",
        actor_id=user.pk,
        actor_role=Actor.GUARDIAN,
        now=now,
        data={"from": previous, "to": unit.code},
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
    message = Message.objects.create(
        concern=concern,
        direction=Direction.TO_RAISER,
        kind=MessageKind.FEEDBACK,
        author=user,
        body=feedback,
        created_at=now,
    )
    _sms_to_raiser(concern=concern, key=f"message:{message.pk}", text=feedback)
    return concern


@transaction.atomic
def concern_close(*, concern_id: int, user: User, reason: str, now: datetime | None = None) -> Concern:
    """Closing is allowed without feedback (the raiser may have gone quiet), but governors are told."""
    now = _now(now)
    concern = _staff_move(
        concern_id=concern_id, user=user, name="close", now=now, stop=ALL_KINDS, data={"reason": reason[:200]}
    )
    if not Message.objects.filter(concern=concern, kind=MessageKind.FEEDBACK).exists():
        alerts_open(items=[(concern, Rule.CLOSED_WITHOUT_FEEDBACK)], now=now)
    vault_purge_for_concern(concern=concern)
    return concern


@transaction.atomic
def concern_reopen(*, concern_id: int, user: User, now: datetime | None = None) -> Concern:
    now = _now(now)
    concern = _staff_move(concern_id=concern_id, user=user, name="reopen", now=now)
    clocks_start(concern=concern, kinds=ALL_KINDS, now=now, first_start=True)
    return concern


def _sms_to_raiser(*, concern: Concern, key: str, text: str) -> None:
    """An SMS raiser hears from the guardian by text: the outbox holds the vault token, not the number,
    and the guardian's words only until sent. It comes from the number of the organisation they
    texted (the nearest on the concern's path that takes texts), so their reply reaches it again."""
    if concern.channel != "sms" or not concern.contact_token:
        return
    codes = [part for part in concern.unit.path.strip("/").split("/") if part]
    sender = (
        Organisation.objects.filter(code__in=codes)
        .exclude(sms_number="")
        .order_by(Length("path").desc())
        .values_list("sms_number", flat=True)
        .first()
    )
    notices_send(
        [
            DeliveryRequest(
                idempotency_key=f"sms:{key}",
                channel="sms",
                recipient=concern.contact_token,
                body=f"Candour, concern {concern.reference}: {text}"[:1500],
                private=True,
                sender=sender or "",
            )
        ]
    )


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
    inactivity_touch(concern=concern, now=now)
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
    _sms_to_raiser(concern=concern, key=f"message:{message.pk}", text=body)
    return message


RAISER_MESSAGE_EVENTS = {
    MessageKind.MESSAGE: "message_from_raiser",
    MessageKind.INFORMATION: "information_added",
    MessageKind.DETRIMENT: "detriment_reported",
    MessageKind.NOTHING_DONE: "nothing_done_reported",
}
RAISER_ALERTS = {MessageKind.DETRIMENT: Rule.DETRIMENT, MessageKind.NOTHING_DONE: Rule.NOTHING_DONE}


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
    # A raiser writing is not the handlers' activity: the inactivity clock keeps counting.
    if kind in RAISER_ALERTS:
        alerts_open(items=[(concern, RAISER_ALERTS[MessageKind(kind)])], now=now)
    return message


@transaction.atomic
def concern_withdraw(*, concern_id: int, now: datetime | None = None) -> Concern:
    now = _now(now)
    concern = _locked(concern_id)
    _transition(concern=concern, name="withdraw", actor=Actor.RAISER, actor_id=None, now=now)
    clocks_stop(concern_ids=[concern.pk])
    concern.save()
    vault_purge_for_concern(concern=concern)
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
    if scope.outside_origin(user=user, concern=concern) and not (
        concern.identity_mode == IdentityMode.NAMED and concern.identity_shared_on_escalation
    ):
        # An escalation packet never says who raised it, unless a named raiser agreed.
        raise PermissionDenied("Bodies further up the route do not learn who raised a concern.")
    event_append(concern=concern, kind="identity_viewed", actor_id=user.pk, actor_role=actor, now=now)
    concern.save(update_fields=["audit_seq", "audit_head"])
    return RaiserIdentity(name=concern.raiser_name, contact=concern.raiser_contact)


def _escalate_now(
    *, concern: Concern, actor: Actor, actor_id: int | None, now: datetime, reason: str, note: str = ""
) -> Concern:
    step = escalation_step(concern=concern, actor=actor, actor_id=actor_id, now=now, reason=reason, note=note)
    if step is None:
        raise lifecycle.IllegalTransition("escalate", concern.state, actor)
    step.event.save(force_insert=True)
    clocks_stop(concern_ids=[concern.pk])
    concern.save()
    clocks_start(concern=concern, kinds=ALL_KINDS, now=now)
    # After the move is complete (clocks stopped and started), as the sweep does for its batch.
    figures_record(events=[step.event])
    directory = Directory.for_organisations([concern.holder, concern.unit, step.sender])
    notices_send(escalation_notices(directory=directory, concern=concern, sender=step.sender, reason=reason))
    if step.bounced:
        alerts_open(items=[(concern, Rule.BOUNCED)], now=now, directory=directory)
    return concern


@transaction.atomic
def concern_escalate_by_raiser(*, concern_id: int, now: datetime | None = None) -> Concern:
    now = _now(now)
    concern = _locked(concern_id)
    if not selectors.raiser_may_escalate(concern=concern, now=now):
        raise lifecycle.IllegalTransition("escalate", concern.state, Actor.RAISER)
    return _escalate_now(concern=concern, actor=Actor.RAISER, actor_id=None, now=now, reason="raiser_escalated")


@transaction.atomic
def concern_escalate_by_guardian(*, concern_id: int, user: User, reason: str, now: datetime | None = None) -> Concern:
    """A guardian sends the concern up the route on purpose (a conflict of interest, say)."""
    now = _now(now)
    concern = _locked_for_guardian(
        concern_id=concern_id, user=user, refusal="Only the guardian escalates a concern by hand."
    )
    return _escalate_now(
        concern=concern, actor=Actor.GUARDIAN, actor_id=user.pk, now=now, reason="guardian_escalated", note=reason
    )


@transaction.atomic
def concern_clocks_pause(*, concern_id: int, user: User, reason: str, now: datetime | None = None) -> Concern:
    """Clocks stop counting only with a recorded reason (waiting on the raiser, say); audited."""
    now = _now(now)
    concern = _locked_for_guardian(
        concern_id=concern_id, user=user, refusal="Only the guardian pauses a concern's clocks."
    )
    if not reason.strip():
        raise ValueError("a pause needs a reason")
    if clocks_pause(concern=concern, reason=reason, now=now):
        event_append(
            concern=concern,
            kind="clocks_paused",
            actor_id=user.pk,
            actor_role=Actor.GUARDIAN,
            now=now,
            data={"reason": reason[:200]},
        )
        concern.save(update_fields=["audit_seq", "audit_head"])
    return concern


@transaction.atomic
def concern_clocks_resume(*, concern_id: int, user: User, now: datetime | None = None) -> Concern:
    now = _now(now)
    concern = _locked_for_guardian(
        concern_id=concern_id, user=user, refusal="Only the guardian resumes a concern's clocks."
    )
    if clocks_resume(concern=concern, now=now):
        event_append(concern=concern, kind="clocks_resumed", actor_id=user.pk, actor_role=Actor.GUARDIAN, now=now)
        concern.save(update_fields=["audit_seq", "audit_head"])
    return concern
