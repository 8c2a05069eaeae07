"""What a raiser does once a concern is raised, holding its receipt (or the phone they texted from):
open it, write, withdraw, answer whether they would speak up again, escalate once it is overdue."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F

from backend.concerns import selectors
from backend.concerns.clocks import ALL_KINDS, clocks_start, clocks_stop
from backend.concerns.crypto import receipt_digest, receipt_normalise
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
from backend.concerns.services.common import Act, locked, notice_hold, now_or, refuse_if_closed
from backend.concerns.services.escalation import escalate_now
from backend.concerns.vault import vault_purge_for_concern
from backend.errors import Busy, Conflict, IllegalMove, Invalid
from workflows.engine import lifecycle
from workflows.engine.lifecycle import Actor
from workflows.engine.sidelining import Rule
from workflows.engine.vocabulary import EventKind


class TooManyAttempts(Busy):
    """The global ceiling on receipt look-ups was reached; try again in a minute."""


def _count_failure(now: datetime) -> int:
    """One more wrong code this minute, counted atomically; the count so far."""
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
    """The concern a receipt opens, or None. A right code is never refused, however much junk arrives
    at once (a raiser locked out of their own concern is the harm to avoid; at 120 bits a guess never
    lands anyway). Wrong codes are counted, and over the global ceiling a minute they are answered
    Busy: a flood costs its sender, never a real raiser. A malformed code costs the same work as a
    wrong one, so the answer and its timing say nothing about which it was."""
    now = now_or(now)
    normalised = receipt_normalise(code)
    digest = receipt_digest(normalised if normalised is not None else "!" + code[:64])
    receipt = Receipt.objects.select_related("concern").filter(digest=digest).first()
    if receipt is not None and normalised is not None:
        return receipt.concern
    if _count_failure(now) > settings.CANDOUR_RECEIPT_ATTEMPTS_PER_MINUTE:
        raise TooManyAttempts("Too many look-ups right now. Try again in a minute.")
    return None


# What each kind of message from a raiser is recorded as, and the sidelining it signals, if any.
RAISER_MESSAGE_EVENTS: dict[MessageKind, EventKind] = {
    MessageKind.MESSAGE: EventKind.MESSAGE_FROM_RAISER,
    MessageKind.INFORMATION: EventKind.INFORMATION_ADDED,
    MessageKind.DETRIMENT: EventKind.DETRIMENT_REPORTED,
    MessageKind.NOTHING_DONE: EventKind.NOTHING_DONE_REPORTED,
}
RAISER_ALERTS: dict[MessageKind, Rule] = {
    MessageKind.DETRIMENT: Rule.DETRIMENT,
    MessageKind.NOTHING_DONE: Rule.NOTHING_DONE,
}


def raiser_time(concern: Concern, now: datetime) -> datetime:
    """When a raiser's action is recorded: an anonymous raiser's to the hour only, like the receipt
    time, so no message, Event or clock a member of staff can see places it within the hour."""
    if concern.identity_mode == IdentityMode.ANONYMOUS:
        return now.replace(minute=0, second=0, microsecond=0)
    return now


@transaction.atomic
def concern_message_from_raiser(
    *, concern_id: int, body: str, kind: str = MessageKind.MESSAGE, now: datetime | None = None
) -> Message:
    """The raiser writes: a message, more information, or a report of detriment (harm for speaking up).
    A raiser writing is not the handlers' activity: the inactivity clock keeps counting."""
    now = now_or(now)
    concern = locked(concern_id)
    refuse_if_closed(concern=concern, name="message", actor=Actor.RAISER)
    now = raiser_time(concern, now)
    message = Message.objects.create(
        concern=concern, direction=Direction.FROM_RAISER, kind=kind, body=body, created_at=now
    )
    if kind == MessageKind.DETRIMENT:
        concern.detriment_reported = True
    act = Act(concern, Actor.RAISER, None, now)
    act.record(RAISER_MESSAGE_EVENTS[MessageKind(kind)], data={"message": message.pk}, visible_to_raiser=True)
    if (rule := RAISER_ALERTS.get(MessageKind(kind))) is not None:
        act.sidelined(rule, not_before=notice_hold(concern, at=now))
    act.done()
    return message


@transaction.atomic
def concern_withdraw(*, concern_id: int, now: datetime | None = None) -> Concern:
    concern = locked(concern_id)
    act = Act(concern, Actor.RAISER, None, raiser_time(concern, now_or(now)))
    act.move(EventKind.WITHDRAW)
    clocks_stop(concern_ids=[act.concern.pk])
    concern = act.done()
    vault_purge_for_concern(concern=concern)
    return concern


SPEAK_UP_STATES = frozenset({lifecycle.State.FEEDBACK_GIVEN, lifecycle.State.CLOSED})


@transaction.atomic
def concern_answer_speak_up_again(*, concern_id: int, answer: str, now: datetime | None = None) -> Concern:
    """ "Given your experience, would you speak up again?" asked once feedback is given, answered once."""
    now = now_or(now)
    concern = locked(concern_id)
    if concern.state not in SPEAK_UP_STATES or concern.would_speak_up_again:
        raise IllegalMove("answer_speak_up_again", concern.state, Actor.RAISER)
    concern.would_speak_up_again = SpeakUpAgain(answer)
    act = Act(concern, Actor.RAISER, None, raiser_time(concern, now))
    act.record(EventKind.SPEAK_UP_AGAIN_ANSWERED, data={"answer": answer}, visible_to_raiser=True)
    return act.done()


@transaction.atomic
def concern_status_share(*, concern_id: int, shared: bool, now: datetime | None = None) -> Concern:
    """The raiser lets anyone with the reference follow their concern's status (a patient group they
    asked for help, say), or stops it. Audited; nothing changes when nothing differs."""
    concern = locked(concern_id)
    if concern.status_shared == shared:
        return concern
    concern.status_shared = shared
    act = Act(concern, Actor.RAISER, None, raiser_time(concern, now_or(now)))
    act.record(EventKind.STATUS_SHARED if shared else EventKind.STATUS_UNSHARED, visible_to_raiser=True)
    return act.done()


@transaction.atomic
def concern_escalate_by_raiser(*, concern_id: int, reason: str = "", now: datetime | None = None) -> Concern:
    """The raiser takes their concern to the next body up the route: once the feedback deadline has
    passed (directive art. 15), or once feedback is given and they judge it inadequate, saying why
    (``reason``, required then). Their words are kept encrypted beside the escalation's Event (a
    Reason), so the receiving body reads why in the packet; nothing says who they are."""
    now = now_or(now)
    concern = locked(concern_id)
    overdue = selectors.raiser_may_escalate(concern=concern, now=now)
    inadequate = not overdue and selectors.raiser_may_escalate_on_feedback(concern=concern)
    if not (overdue or inadequate):
        raise IllegalMove(EventKind.ESCALATE, concern.state, Actor.RAISER)
    if inadequate and not reason.strip():
        raise Invalid("Say why the feedback was not good enough: the organisation you escalate to will read it.")
    # An anonymous raiser's escalation is placed only within its hour, like their other actions: the
    # Event, the new clocks and the notices (which wait for the hour to end) all say the hour.
    at = raiser_time(concern, now)
    return escalate_now(
        concern=concern,
        actor=Actor.RAISER,
        actor_id=None,
        now=at,
        reason="feedback_inadequate" if inadequate else "raiser_escalated",
        note=reason.strip(),
        hold=notice_hold(concern, at=at),
    )


REOPEN_ONCE = (
    "You have already reopened this concern once, so it cannot be reopened again. If you think the "
    "feedback was not good enough, you can take it to the next organisation instead."
)


@transaction.atomic
def concern_reopen_by_raiser(*, concern_id: int, reason: str = "", now: datetime | None = None) -> Concern:
    """The raiser reopens their concern once feedback is given (the table's reopen move), once only:
    a second time is refused (Conflict, 409). Their clocks start again as for a new arrival; ``reason``
    (optional, their words) is a message from them, encrypted like the rest of the conversation."""
    now = now_or(now)
    concern = locked(concern_id)
    if selectors.raiser_reopened(concern=concern):
        raise Conflict(REOPEN_ONCE)
    at = raiser_time(concern, now)
    act = Act(concern, Actor.RAISER, None, at)
    act.move(EventKind.REOPEN)
    clocks_start(act.work, concern=concern, kinds=ALL_KINDS, now=at, first_start=True)
    if reason.strip():
        act.work.add(Message(concern=concern, direction=Direction.FROM_RAISER, body=reason.strip(), created_at=at))
    return act.done()
