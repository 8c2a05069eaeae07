"""Read-only queries over concerns: inboxes, case pages, the raiser's view."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.core.paginator import Page, Paginator
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import dateformat, timezone

from backend.concerns import scope
from backend.concerns.crypto import submission_digest
from backend.concerns.inbox_query import InboxFilter, InboxQuery, InboxSort
from backend.concerns.models import (
    Channel,
    Clock,
    ClockStatus,
    Concern,
    ConflictBasis,
    ConflictOfInterest,
    Event,
    IdentityMode,
    Message,
    MessageKind,
    Reason,
)
from backend.config.encryption import EncryptedTextField
from backend.errors import Forbidden
from backend.organisations.models import Membership, Organisation, OrganisationKind, Role
from workflows.engine import lifecycle
from workflows.engine.lifecycle import Actor
from workflows.engine.policy import ClockKind
from workflows.engine.vocabulary import STATE_LABELS, Action, EscalationReason, EventKind, label_of, raiser_event_label


def _due_soon(now: datetime) -> Exists:
    """A running clock whose reminder time has come and whose deadline has not: "due soon"."""
    return Exists(
        Clock.objects.filter(
            concern=OuterRef("pk"),
            status=ClockStatus.PENDING,
            paused_at__isnull=True,
            remind_at__lte=now,
            due_at__gt=now,
        )
    )


# Whether anyone is recorded as not to handle the concern (the raiser's naming, or staff's).
_conflict_recorded = Exists(ConflictOfInterest.objects.filter(concern=OuterRef("pk")))


def _overdue(now: datetime) -> Exists:
    """A deadline at the concern's current level has passed and nobody has answered it: a running
    clock past due (the sweep has not reached it yet), or a breached one whose move has not been
    made since (an acknowledgement still owed, feedback still owed). A breached inactivity clock is
    left to its alert ("with alerts"); an escalated concern's old level no longer counts."""
    passed = Clock.objects.filter(
        concern=OuterRef("pk"),
        route_level=OuterRef("route_level"),
        due_at__lte=now,
        concern__state__in=[str(state) for state in lifecycle.OPEN],
    )
    return Exists(
        passed.filter(
            Q(status=ClockStatus.PENDING, paused_at__isnull=True)
            | Q(status=ClockStatus.FIRED, kind=ClockKind.ACKNOWLEDGE, concern__state__in=UNACKNOWLEDGED)
            | (Q(status=ClockStatus.FIRED, kind=ClockKind.FEEDBACK) & ~Q(concern__state=lifecycle.State.FEEDBACK_GIVEN))
        )
    )


# States in which an acknowledgement is owed (the acknowledge move's sources).
UNACKNOWLEDGED = tuple(str(s) for s in lifecycle.BY_NAME["acknowledge"].sources)

# An open sidelining alert on the concern. Oversight keeps alerts downstream and concerns never
# import it; its rows are reached here through their relation to the concern ("alerts").
# (Both conditions in one filter: the same alert row, joined inner, so a concern with none is not counted.)
_open_alert = Exists(
    Concern.objects.filter(pk=OuterRef("pk"), alerts__opened_at__isnull=False, alerts__resolved_at__isnull=True)
)

# The running deadline that falls next (paused ones are not counting down); NULL for none.
_next_due = Subquery(
    Clock.objects.filter(concern=OuterRef("pk"), status=ClockStatus.PENDING, paused_at__isnull=True)
    .order_by("due_at")
    .values("due_at")[:1]
)

_SORTS: dict[InboxSort, tuple[Any, ...]] = {
    InboxSort.NEWEST: ("-received_at", "-pk"),
    InboxSort.OLDEST: ("received_at", "pk"),
    InboxSort.DUE: (F("next_due").asc(nulls_last=True), "-received_at", "-pk"),
}


def concern_inbox(
    *,
    user: User | AnonymousUser,
    due_soon_only: bool = False,
    query: InboxQuery | None = None,
    now: datetime | None = None,
) -> QuerySet[Concern]:
    """Concerns the user handles: a guardian's subtree, a handler's assigned concerns; newest first
    unless ``query`` orders them otherwise. Each says whether it is ``due_soon`` (a deadline's
    reminder time has passed, the deadline not), ``overdue``, ``with_alerts`` and when its
    ``next_due`` deadline falls. ``query``: only those its filters ask for (the inbox page and the
    API's list filter the same way); ``due_soon_only``: only those due soon."""
    now = now or timezone.now()
    query = query or InboxQuery(due_soon=due_soon_only)
    concerns = (
        Concern.objects.filter(scope.handling_q(user=user))
        .annotate(
            due_soon=_due_soon(now),
            overdue=_overdue(now),
            with_alerts=_open_alert,
            conflict_of_interest=_conflict_recorded,
        )
        .select_related("unit", "holder")
    )
    return concerns_sorted(concerns=concerns_filtered(concerns=concerns, query=query, now=now), sort=query.sort)


def concerns_sorted(*, concerns: QuerySet[Concern], sort: InboxSort) -> QuerySet[Concern]:
    """``concerns`` in the order asked, each with its ``next_due`` running deadline (None for none)."""
    return concerns.annotate(next_due=_next_due).order_by(*_SORTS[sort])


def inbox_conditions(now: datetime) -> dict[InboxFilter, Q | Exists]:
    """Each yes-or-no filter of the inbox, as a condition on any list of concerns (the inbox, the
    API's lists). "Escalated to us": come up the route to whoever holds it now, so held past its
    first level."""
    return {
        InboxFilter.OVERDUE: _overdue(now),
        InboxFilter.DUE_SOON: _due_soon(now),
        InboxFilter.ESCALATED_TO_US: Q(route_level__gt=0),
        InboxFilter.WITH_ALERTS: _open_alert,
    }


def concerns_filtered(*, concerns: QuerySet[Concern], query: InboxQuery, now: datetime) -> QuerySet[Concern]:
    """``concerns`` narrowed by the query's filters."""
    conditions = inbox_conditions(now)
    for flag in sorted(query.flags()):
        concerns = concerns.filter(conditions[flag])
    if query.unit:
        concerns = concerns.filter(unit__code=query.unit)
    if query.theme:
        concerns = concerns.filter(themes__any_of=[query.theme])
    return concerns


def concerns_flagged(
    *, concerns: QuerySet[Concern], flag: InboxFilter, value: bool, now: datetime | None = None
) -> QuerySet[Concern]:
    """Those of ``concerns`` that are (``value``) or are not under one filter: the API's filters."""
    condition = inbox_conditions(now or timezone.now())[flag]
    return concerns.filter(condition) if value else concerns.exclude(condition)


def concerns_due_soon(*, concerns: QuerySet[Concern], now: datetime | None = None) -> QuerySet[Concern]:
    """Only those of ``concerns`` due soon (the API's filter, on any list of concerns)."""
    return concerns_flagged(concerns=concerns, flag=InboxFilter.DUE_SOON, value=True, now=now)


@dataclass(frozen=True)
class InboxPage:
    """The inbox page: one page of concerns, how many the whole inbox holds under each filter (what
    a guardian looks at first), and the units and themes it may be narrowed to."""

    page: Page[Concern]
    query: InboxQuery
    counts: dict[str, int]
    units: list[tuple[str, str]]


INBOX_PAGE_SIZE = 25


def concern_inbox_page(
    *, user: User | AnonymousUser, query: InboxQuery, now: datetime | None = None, per_page: int = INBOX_PAGE_SIZE
) -> InboxPage:
    now = now or timezone.now()
    held = Concern.objects.filter(scope.handling_q(user=user))
    conditions = inbox_conditions(now)
    counts = held.aggregate(
        total=Count("pk"), **{flag.value: Count("pk", filter=Q(conditions[flag])) for flag in InboxFilter}
    )
    units = list(held.order_by("unit__name").values_list("unit__code", "unit__name").distinct())
    page = Paginator(concern_inbox(user=user, query=query, now=now), per_page).get_page(query.page)
    return InboxPage(page=page, query=query, counts=counts, units=units)


def concern_oversight_list(*, user: User | AnonymousUser) -> QuerySet[Concern]:
    """Concerns a governor, commissioner or regulator may know exist. Callers show no narrative.
    Each says whether a conflict of interest is recorded on it: that one exists, never who named whom."""
    return (
        Concern.objects.filter(scope.oversight_q(user=user))
        .annotate(conflict_of_interest=_conflict_recorded)
        .select_related("unit", "holder")
        .order_by("-received_at", "-pk")
    )


def concern_shared_status(*, reference: str) -> Concern | None:
    """A concern whose raiser let others follow its status, by its reference (anyone: no sign-in);
    None for any other reference, so an unshared concern and no concern answer alike."""
    return Concern.objects.select_related("unit", "holder").filter(reference=reference, status_shared=True).first()


def concern_public_status(*, user: User | AnonymousUser, reference: str) -> Concern | None:
    """A patient group's account follows a concern whose raiser shared its status: state and dates only."""
    if not user.is_authenticated or not Membership.objects.filter(user=user, role=Role.PATIENT_GROUP).exists():
        return None
    return concern_shared_status(reference=reference)


def concern_for_handler(*, user: User | AnonymousUser, reference: str) -> Concern | None:
    return concern_inbox(user=user).filter(reference=reference).first()


@dataclass(frozen=True)
class CaseView:
    """A concern as one caller may see it, for every entry point that shows a case (the API's detail
    and the case page alike): the whole case for those handling it at its origin, the escalation
    packet for a body further up the route (``packet``)."""

    concern: Concern
    actions: list[Action]
    # A body further up the route sees the escalation packet: what happened, when, what was done;
    # never the conversation with the raiser, never who they are.
    packet: bool
    history: Sequence[Event]
    clocks: list[Clock]
    # The conversation with the raiser: empty in the packet.
    messages: list[Message]
    # Staff-only notes, oldest first: empty in the packet (they stay at the concern's origin).
    notes: list[StaffNote]
    # Who must not handle it and why: for its guardian at its origin only (empty for anyone else).
    conflicts: list[ConflictView]
    # Whether any conflict of interest is recorded: what everyone else who sees the case learns.
    conflict_of_interest: bool
    # The wards and teams its guardian may place it on: a concern raised by text, not yet placed.
    placing_units: list[Organisation] = field(default_factory=list)
    # The page offers the audited look-up of who raised it (the service decides again on the look).
    identity_offered: bool = False

    @property
    def view(self) -> str:
        return "packet" if self.packet else "case"

    @property
    def escalations(self) -> list[Event]:
        """The steps up the route, oldest first (their data: from, to, level, reason; ``reason``
        annotated: the guardian's words, if they gave any)."""
        return [e for e in self.history if e.kind == EventKind.ESCALATE]


def concern_case(*, user: User | AnonymousUser, reference: str) -> CaseView | None:
    """The one view of a concern for a guardian or handler, whatever the entry point: the concern, the
    moves the rulebook allows them now, and either the whole case (at the concern's origin) or the
    escalation packet (``scope.outside_origin``: a body further up the route), which leaves out the
    messages' bodies. Neither holds the raiser's identity: that is the audited identity look-up's."""
    concern = concern_for_handler(user=user, reference=reference)
    if concern is None:
        return None
    actor = scope.actor_for(user=user, concern=concern)  # type: ignore[arg-type]
    actions = [Action(name) for name in lifecycle.allowed(state=concern.state, actor=actor)] if actor else []
    clocks = list(
        Clock.objects.filter(concern=concern, status=ClockStatus.PENDING).select_related("holder").order_by("due_at")
    )
    now = timezone.now()
    for clock in clocks:
        # What the page says beside each deadline, in the holder's working days (its closures too).
        clock.working_days_left = clock.holder.calendar.working_days_left(now, clock.due_at)  # type: ignore[attr-defined]
        clock.passed = clock.due_at <= now  # type: ignore[attr-defined]
    packet = scope.outside_origin(user=user, concern=concern)  # type: ignore[arg-type]
    if actor and concern.state not in lifecycle.TERMINAL:
        # Not moves of the lifecycle, but what the same people may do while it is open.
        actions.append(Action.MESSAGE)
        if not packet:
            actions.append(Action.NOTE)
        actions.append(Action.DECLARE_CONFLICT)
        if actor is Actor.GUARDIAN:
            actions.append(Action.ASSIGN)
            paused = any(c.paused_at for c in clocks)
            actions.append(Action.RESUME if paused else Action.PAUSE)
    if actor and concern.state != lifecycle.State.WITHDRAWN:
        # Actions agreed on it outlive the case: recorded and done after closing too (services.actions).
        actions += [Action.RECORD_ACTION, Action.COMPLETE_ACTION]
    if actor is not Actor.GUARDIAN or concern.holder.escalates_to is None:
        actions = [a for a in actions if a != Action.ESCALATE]
    # The packet leaves staff notes out altogether, not only their words: upstream sees what was done.
    hidden = (*PRIVATE_EVENTS, *ORIGIN_ONLY_EVENTS) if packet else PRIVATE_EVENTS
    guardian_here = actor is Actor.GUARDIAN and not packet
    if guardian_here:
        # How it is counted in the quarterly return, corrected at its origin, in any state.
        actions.append(Action.RECLASSIFY)
    if not guardian_here:
        # Who declared or was named, and who was tried, is the origin's guardian's alone.
        hidden = (*hidden, *GUARDIAN_ONLY_EVENTS)
    history = list(
        Event.objects.filter(concern=concern).exclude(kind__in=hidden).annotate(reason=_reason).order_by("seq")
    )
    _escalations_in_words(history)
    messages = [] if packet else concern_messages(concern=concern)
    notes = [] if packet else _notes(concern=concern)
    return CaseView(
        concern=concern,
        actions=actions,
        packet=packet,
        history=history,
        clocks=clocks,
        messages=messages,
        notes=notes,
        conflicts=_conflicts(concern=concern) if guardian_here else [],
        conflict_of_interest=ConflictOfInterest.objects.filter(concern=concern).exists(),
        placing_units=units_for_placing(concern=concern) if guardian_here else [],
        identity_offered=_identity_offered(concern=concern, actor=actor, packet=packet),
    )


def _identity_offered(*, concern: Concern, actor: Actor | None, packet: bool) -> bool:
    """Whether the page offers the audited look-up of who raised it (services.concern_identity_reveal
    decides again): a named raiser to those handling it at its origin, a confidential one to its
    guardian alone, upstream only a named raiser who agreed; never an anonymous one."""
    if actor is None or concern.identity_mode == IdentityMode.ANONYMOUS:
        return False
    if packet:
        return concern.identity_mode == IdentityMode.NAMED and concern.identity_shared_on_escalation
    return concern.identity_mode == IdentityMode.NAMED or actor is Actor.GUARDIAN


def _escalations_in_words(history: Sequence[Event]) -> None:
    """Each step up the route in words, for the page: the bodies' names (an event keeps their codes)
    and why it went (``from_name``, ``to_name``, ``reason_label`` on each escalate event)."""
    steps = [e for e in history if e.kind == EventKind.ESCALATE]
    codes = {e.data.get(end, "") for e in steps for end in ("from", "to")}
    names = dict(Organisation.objects.filter(code__in=codes).values_list("code", "name")) if steps else {}
    for event in steps:
        event.from_name = names.get(event.data.get("from", ""), event.data.get("from", ""))  # type: ignore[attr-defined]
        event.to_name = names.get(event.data.get("to", ""), event.data.get("to", ""))  # type: ignore[attr-defined]
        event.reason_label = label_of(EscalationReason, event.data.get("reason", ""))  # type: ignore[attr-defined]


def units_for_placing(*, concern: Concern) -> list[Organisation]:
    """The wards and teams a concern raised by text may be placed on (services.concern_sms_place):
    those of the organisation texted, while it is open and not yet on a unit; none otherwise."""
    if (
        concern.channel != Channel.SMS
        or concern.unit.kind == OrganisationKind.UNIT
        or concern.state in lifecycle.TERMINAL
    ):
        return []
    return list(
        Organisation.objects.filter(kind=OrganisationKind.UNIT, path__startswith=concern.unit.path).order_by("name")
    )


# Kept at the concern's origin: never in the escalation packet.
ORIGIN_ONLY_EVENTS = (EventKind.STAFF_NOTE.value,)


@dataclass(frozen=True)
class StaffNote:
    """A staff-only note: the link of the concern's chain it is (``seq``), who wrote it, when, and its
    words (kept encrypted in a Reason beside that link, like staff's words with a move)."""

    seq: int
    author: str
    text: str
    created_at: datetime


def _notes(*, concern: Concern) -> list[StaffNote]:
    events = (
        Event.objects.filter(concern=concern, kind=EventKind.STAFF_NOTE)
        .select_related("actor")
        .annotate(reason=_reason)
        .order_by("seq")
    )
    return [
        StaffNote(
            seq=e.seq,
            author=(e.actor.get_full_name() or e.actor.get_username()) if e.actor else "",
            text=e.reason,  # annotated
            created_at=e.created_at,
        )
        for e in events
    ]


def concern_notes(*, user: User | AnonymousUser, reference: str) -> list[StaffNote] | None:
    """The staff-only notes on a concern, for those who see its whole case (its guardian and handler
    at its origin); None for a concern the caller may not see. A body further up the route sees the
    packet and no notes: Forbidden, since it knows the concern exists."""
    concern = concern_for_handler(user=user, reference=reference)
    if concern is None:
        return None
    if scope.outside_origin(user=user, concern=concern):  # type: ignore[arg-type]
        raise Forbidden(NOTES_STAY_AT_ORIGIN)
    return _notes(concern=concern)


# Conflicts of interest (who declared, who was named, who was tried): for the guardian at the origin.
GUARDIAN_ONLY_EVENTS = (EventKind.CONFLICT_DECLARED.value, EventKind.ASSIGN_REFUSED.value)


@dataclass(frozen=True)
class ConflictView:
    """One record of who must not handle a concern, as its guardian sees it: why (``basis``), who
    (empty until the guardian resolves a raiser's naming), the raiser's own words (their naming in
    words), which of the raiser's naming a guardian's answers, and the declarant's reason."""

    basis: str
    basis_label: str
    person: str
    username: str
    words: str
    resolves: str
    resolves_label: str
    reason: str
    on: date


def _conflicts(*, concern: Concern) -> list[ConflictView]:
    rows = ConflictOfInterest.objects.filter(concern=concern).select_related("person").order_by("created_at", "pk")
    reasons = dict(
        Reason.objects.filter(concern=concern, seq__in=[r.seq for r in rows if r.seq is not None]).values_list(
            "seq", "text"
        )
    )
    return [
        ConflictView(
            basis=r.basis,
            basis_label=r.get_basis_display(),
            person=(r.person.get_full_name() or r.person.get_username()) if r.person else "",
            username=r.person.get_username() if r.person else "",
            words=r.words,
            resolves=r.resolves,
            resolves_label=ConflictBasis(r.resolves).label if r.resolves else "",
            reason=reasons.get(r.seq, "") if r.seq is not None else "",
            on=r.created_at.date(),
        )
        for r in rows
    ]


CONFLICTS_FOR_GUARDIAN = (
    "Who must not handle this concern, and who said so, is for the guardian of the organisation it is about."
)


def concern_conflicts(*, user: User | AnonymousUser, reference: str) -> list[ConflictView] | None:
    """The conflicts of interest on a concern, for its guardian at its origin; None for a concern the
    caller may not see; Forbidden for anyone else who sees it (a handler, a body up the route)."""
    concern = concern_for_handler(user=user, reference=reference)
    if concern is None:
        return None
    if scope.actor_for(user=user, concern=concern) is not Actor.GUARDIAN or scope.outside_origin(  # type: ignore[arg-type]
        user=user,  # type: ignore[arg-type]
        concern=concern,
    ):
        raise Forbidden(CONFLICTS_FOR_GUARDIAN)
    return _conflicts(concern=concern)


def concern_for_declaring(*, user: User | AnonymousUser, reference: str) -> Concern | None:
    """The concern a member of staff may declare their conflict of interest on (those who handle it,
    or could be placed with it: scope.may_declare_conflict), by its reference; None for anyone else,
    who learns nothing of it."""
    if not user.is_authenticated:
        return None
    concern = Concern.objects.select_related("holder", "unit").filter(reference=reference).first()
    if concern is None or not scope.may_declare_conflict(user=user, concern=concern):
        return None
    return concern


NOTES_STAY_AT_ORIGIN = (
    "Staff notes stay with the organisation the concern is about: bodies further up the route see the "
    "escalation packet only."
)


# Staff's words with each Event (``Event.reason``, "" for none), decrypted as the rows are read.
_reason = Coalesce(
    Subquery(Reason.objects.filter(concern=OuterRef("concern"), seq=OuterRef("seq")).values("text")[:1]),
    Value(""),
    output_field=EncryptedTextField(),
)


# Kept out of the history others see: who looked at an identity is the raiser's business and audit's.
PRIVATE_EVENTS = ("identity_viewed",)


@dataclass(frozen=True)
class TimelineEntry:
    kind: str
    state: str
    at: datetime

    @property
    def on(self) -> date:
        return self.at.date()

    @property
    def label(self) -> str:
        """What happened, in the raiser's words (never the stored value)."""
        return raiser_event_label(self.kind)

    @property
    def state_label(self) -> str:
        """Where it left the concern, in words ("" for an Event that moved nothing)."""
        return STATE_LABELS.get(self.state, "")


@dataclass(frozen=True)
class RaiserClock:
    """The deadline the raiser is waiting on, in plain words: who should do what by when, and what that
    means for them. ``passed``: the day has gone by unanswered; ``paused``: it is not counting."""

    kind: str
    due: datetime
    passed: bool
    paused: bool
    words: str
    meaning: str


# Who the raiser is waiting on: their own organisation's guardian until the concern goes up the route,
# then the body that holds it (by name).
_GUARDIAN = "The guardian"

# What each clock a raiser waits on asks, and what it means for them (the inactivity clock is staff's).
RAISER_CLOCK_WORDS: dict[str, tuple[str, str, str]] = {
    # kind: (due, passed, meaning)
    ClockKind.ACKNOWLEDGE: (
        "{who} should reply by {day} to say they have your concern.",
        "{who} should have replied by {day} to say they had your concern.",
        "Replying means they have read your concern and will look into it. You do not need to do anything.",
    ),
    ClockKind.FEEDBACK: (
        "{who} should tell you by {day} what they found and what is being done.",
        "{who} should have told you by {day} what they found and what is being done.",
        "If they do not, you can send your concern to the next organisation that oversees this one.",
    ),
}
_PAUSED = (
    "The deadline is paused while those looking into your concern wait for something. "
    "It starts counting again when they carry on, and the time it was paused is added to it."
)


def _day(at: datetime, now: datetime) -> str:
    local, today = timezone.localtime(at), timezone.localtime(now)
    return dateformat.format(local, "l j F" if local.year == today.year else "l j F Y")


def raiser_clock(*, concern: Concern, now: datetime) -> RaiserClock | None:
    """The deadline the raiser waits on now: the acknowledge or feedback clock at the concern's
    current level that falls next (a breached one not yet answered counts as passed); None once
    nothing is owed them (feedback given, closed, withdrawn)."""
    if concern.state in lifecycle.TERMINAL or concern.state == lifecycle.State.FEEDBACK_GIVEN:
        return None
    owed = [ClockKind.FEEDBACK] if concern.state not in UNACKNOWLEDGED else [ClockKind.ACKNOWLEDGE, ClockKind.FEEDBACK]
    clock = (
        Clock.objects.filter(
            concern=concern,
            route_level=concern.route_level,
            kind__in=owed,
            status__in=[ClockStatus.PENDING, ClockStatus.FIRED],
        )
        .order_by("due_at")
        .first()
    )
    if clock is None:
        return None
    who = _GUARDIAN if concern.route_level == 0 else concern.holder.name
    due_words, passed_words, meaning = RAISER_CLOCK_WORDS[clock.kind]
    paused = clock.paused_at is not None
    passed = not paused and clock.due_at <= now
    words = (passed_words if passed else due_words).format(who=who, day=_day(clock.due_at, now))
    return RaiserClock(
        kind=clock.kind,
        due=clock.due_at,
        passed=passed,
        paused=paused,
        words=words,
        meaning=_PAUSED if paused else meaning,
    )


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
    may_escalate: bool
    # May escalate because they judge the feedback inadequate (saying why), not because time ran out.
    may_escalate_on_feedback: bool
    may_reopen: bool  # feedback given, and they have not reopened it before (once only)
    status_shared: bool  # anyone with the reference may follow its status (the raiser's choice)
    clock: RaiserClock | None  # the deadline they are waiting on, in plain words
    timeline: list[TimelineEntry]
    messages: list[Message]


def concern_raiser_view(*, concern: Concern, now: datetime | None = None) -> RaiserView:
    """Everything the raiser may see: their status, timeline and conversation; nothing about staff."""
    now = now or timezone.now()
    return RaiserView(
        reference=concern.reference,
        state=concern.state,
        state_label=STATE_LABELS[concern.state],
        route_level=concern.route_level,
        received_on=concern.received_on,
        would_speak_up_again=concern.would_speak_up_again,
        may_escalate=raiser_may_escalate(concern=concern, now=now),
        may_escalate_on_feedback=raiser_may_escalate_on_feedback(concern=concern),
        may_reopen=concern.state == lifecycle.State.FEEDBACK_GIVEN and not raiser_reopened(concern=concern),
        status_shared=concern.status_shared,
        clock=raiser_clock(concern=concern, now=now),
        timeline=concern_raiser_timeline(concern=concern),
        messages=concern_messages(concern=concern),
    )


def concern_by_id(*, concern_id: int) -> Concern | None:
    """For the raiser's follow-up session, which holds the id the receipt opened; and the concern as a
    move has just left it, read afresh (never ``refresh_from_db`` in a web process: see
    Concern.refresh_from_db)."""
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
    """In the order written: an anonymous raiser's messages keep only their hour (services.raiser)."""
    return list(Message.objects.filter(concern=concern).order_by("pk"))


def raiser_may_escalate(*, concern: Concern, now: datetime) -> bool:
    """Once the feedback clock at the current level has passed (directive art. 15), the raiser may
    take the concern up the route themselves."""
    return (
        concern.holder.escalates_to is not None
        and concern.state in lifecycle.BY_NAME["escalate"].sources
        and Clock.objects.filter(
            concern=concern, kind=ClockKind.FEEDBACK, route_level=concern.route_level, due_at__lte=now
        )
        .exclude(status=ClockStatus.STOPPED)
        .exists()
    )


def raiser_may_escalate_on_feedback(*, concern: Concern) -> bool:
    """Once feedback is given, the raiser may take the concern up the route if they judge it
    inadequate (saying why), whether or not its deadline has passed."""
    return (
        concern.holder.escalates_to is not None
        and concern.state in lifecycle.BY_NAME["escalate"].sources
        and Message.objects.filter(concern=concern, kind=MessageKind.FEEDBACK).exists()
    )


def raiser_reopened(*, concern: Concern) -> bool:
    """Whether the raiser has reopened this concern already: they may, once."""
    return Event.objects.filter(concern=concern, kind=EventKind.REOPEN, actor_role=Actor.RAISER).exists()


def concern_reference_for_submission(*, submission_key: str) -> str | None:
    """The reference of the concern a web form's one-time key already raised, if any: a "Send" pressed
    again after the answers were deleted is told it was received, not asked to start again."""
    if not submission_key:
        return None
    return (
        Concern.objects.filter(submission_digest=submission_digest(submission_key))
        .values_list("reference", flat=True)
        .first()
    )
