"""The clock sweep: fire every clock that has fallen due, in batches, a constant number of queries each.

A batch locks its due clocks and then their concerns, both with SKIP LOCKED: a concern a person is
working on right now is left for the next sweep rather than waited on (services lock the concern
first and the clocks second; waiting here in the other order could deadlock). Each clock is checked
against the concern as it is at fire time; then the batch is written with bulk statements. Two sweeps
at once take disjoint rows, and a clock's status changes once, so nothing fires or escalates twice.

Its cost is per due clock, so the hot path reads and writes plain values: clocks as tuples, each
organisation and policy once per batch (not once per concern), rows written as one JSON parameter
each (backend.config.db), and no row read back that the batch already holds. A breach moves a
concern by the same ``state_move`` as a person's move (services.common): the transition table decides.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from backend.concerns.clocks import ALL_KINDS, clocks_build, concern_facts
from backend.concerns.facts import Sidelined
from backend.concerns.models import Clock, ClockStatus, Concern
from backend.concerns.notices import (
    Directory,
    due_soon_notices,
    escalation_notices,
    notices_send,
    reminder_notices,
)
from backend.concerns.services.actions import actions_overdue_alert
from backend.concerns.services.aftercare import aftercare_sweep
from backend.concerns.services.common import Act
from backend.concerns.services.escalation import escalation_step
from backend.config.db import IdsIn, UnitOfWork
from backend.organisations.models import EscalationPolicy, Organisation
from notifications.services import DeliveryRequest
from workflows.engine import lifecycle
from workflows.engine.lifecycle import Actor
from workflows.engine.policy import BreachAction
from workflows.engine.sidelining import BREACH_RULE, Rule
from workflows.engine.vocabulary import EventKind

logger = logging.getLogger(__name__)

# Clocks a batch takes at once. Each batch is one transaction, holding its rows locked until it
# commits: about half a second at this size, and a tenth of the fixed cost per batch of 200.
SWEEP_BATCH = 500
# A clock fired this long after it fell due is marked late: the sweep was down or behind.
LATE_AFTER = timedelta(minutes=5)
# A breach escalates an open concern still waiting for an answer; once feedback is given, only the
# raiser (judging it inadequate) or the guardian takes it further.
ESCALATABLE = frozenset(lifecycle.BY_NAME["escalate"].sources) - {lifecycle.State.FEEDBACK_GIVEN}
# What a fired clock needs of its concern: the narrative and identity (encrypted, costly to read)
# are left in the database.
CONCERN_FIELDS = (
    "reference",
    "raiser_kind",
    "themes",
    "urgent",
    "unit",
    "holder",
    "route_level",
    "policy",
    "assignee",
    "handovers",
    "state",
    "received_at",
    "last_activity_at",
    "audit_seq",
    "audit_head",
    "detriment_of",  # a detriment case's clocks are its own (concern_facts)
)
# What a breach changes on the concern.
CONCERN_WRITTEN = ("state", "holder", "route_level", "handovers", "last_activity_at", "audit_seq", "audit_head")


class DueClock(NamedTuple):
    pk: int
    concern_id: int
    kind: str
    route_level: int
    due_at: datetime
    on_breach: list[str]


@dataclass
class SweepResult:
    fired: int = 0
    escalated: int = 0
    alerts: int = 0
    reminded: int = 0  # clocks whose "due soon" reminder went to the outbox
    actions_overdue: int = 0  # "action overdue" alerts opened (services.actions)
    check_ins_asked: int = 0  # check-ins after closure that fell due and were asked (services.aftercare)


@dataclass(frozen=True)
class _Escalation:
    concern: Concern
    sender: Organisation
    reason: str


@dataclass
class _Batch:
    now: datetime
    work: UnitOfWork = field(default_factory=UnitOfWork)
    fired: list[int] = field(default_factory=list)
    breached: set[int] = field(default_factory=set)  # concerns a breach changed
    escalated: dict[int, _Escalation] = field(default_factory=dict)
    alerts: list[tuple[Concern, Rule]] = field(default_factory=list)
    reminders: list[tuple[int, Concern]] = field(default_factory=list)


def _fire(batch: _Batch, clock: DueClock, concern: Concern) -> None:
    now = batch.now
    batch.fired.append(clock.pk)
    # Re-check at fire time: closed, withdrawn or already moved on means the breach no longer applies.
    if concern.state in lifecycle.TERMINAL or concern.route_level != clock.route_level:
        return
    late = now - clock.due_at > LATE_AFTER
    batch.breached.add(concern.pk)
    act = Act(concern, Actor.SYSTEM, None, now, work=batch.work)
    act.record(EventKind.CLOCK_BREACHED, data={"clock": clock.kind, "level": clock.route_level, "late": late})
    actions = set(clock.on_breach)
    for action, handler in ON_BREACH.items():  # in this order: alerts name the level breached
        if action in actions:
            handler(batch, clock, concern)


def _alert_governors(batch: _Batch, clock: DueClock, concern: Concern) -> None:
    batch.alerts.append((concern, BREACH_RULE[clock.kind]))


def _remind(batch: _Batch, clock: DueClock, concern: Concern) -> None:
    batch.reminders.append((clock.pk, concern))


def _escalate(batch: _Batch, clock: DueClock, concern: Concern) -> None:
    if concern.state not in ESCALATABLE:
        return
    reason = f"{clock.kind}_breached"
    step = escalation_step(Act(concern, Actor.SYSTEM, None, batch.now, work=batch.work), reason=reason)
    if step is not None:
        batch.escalated[concern.pk] = _Escalation(concern=concern, sender=step.sender, reason=reason)
        if step.bounced:
            batch.alerts.append((concern, Rule.BOUNCED))


# What a breached clock does, by the actions its policy rule lists.
ON_BREACH: dict[BreachAction, Callable[[_Batch, DueClock, Concern], None]] = {
    BreachAction.ALERT_GOVERNORS: _alert_governors,
    BreachAction.REMIND: _remind,
    BreachAction.ESCALATE: _escalate,
}


def _notices(batch: _Batch, directory: Directory) -> list[DeliveryRequest]:
    requests: list[DeliveryRequest] = []
    for escalation in batch.escalated.values():
        requests += escalation_notices(
            directory=directory, concern=escalation.concern, sender=escalation.sender, reason=escalation.reason
        )
    if batch.reminders:
        assignees = User.objects.in_bulk({c.assignee_id for _, c in batch.reminders if c.assignee_id})
        for clock_id, concern in batch.reminders:
            requests += reminder_notices(
                directory=directory,
                clock_id=clock_id,
                concern=concern,
                assignee=assignees.get(concern.assignee_id) if concern.assignee_id else None,
            )
    return requests


_CLOCK_FIELDS = [f.attname for f in Clock._meta.concrete_fields if not f.primary_key]


def _new_level_clocks(batch: _Batch) -> list[dict[str, Any]]:
    """The clocks each escalated concern starts at its new level, as rows. clocks_build reads of the
    concern only its policy, holder, route level and facts, and every clock of a batch starts at the
    same moment, so concerns alike in those start the same clocks: each kind of concern is built
    once per batch (deadlines in working days cost a walk through the calendar each)."""
    alike: dict[tuple[object, ...], list[dict[str, Any]]] = {}
    rows: list[dict[str, Any]] = []
    for escalation in batch.escalated.values():
        concern = escalation.concern
        key = (concern.policy_id, concern.holder_id, concern.route_level, concern_facts(concern))
        if key not in alike:
            built = clocks_build(concern=concern, kinds=ALL_KINDS, now=batch.now)
            alike[key] = [{name: getattr(clock, name) for name in _CLOCK_FIELDS} for clock in built]
        rows += [template | {"concern_id": concern.pk} for template in alike[key]]
    return rows


def _write(batch: _Batch, concerns: Iterable[Concern]) -> int:
    work = batch.work
    # Every clock of the batch fires at the same moment; "late" follows from its due time.
    Clock.objects.filter(IdsIn(F("pk"), batch.fired)).update(
        status=ClockStatus.FIRED, fired_at=batch.now, late=Q(due_at__lt=batch.now - LATE_AFTER)
    )
    if batch.escalated:
        # The old level's clocks stop before the new level's start: one running clock per kind.
        Clock.objects.filter(IdsIn(F("concern_id"), batch.escalated), status=ClockStatus.PENDING).update(
            status=ClockStatus.STOPPED
        )
        work.add_values(Clock, _new_level_clocks(batch))
    touched = [c for c in concerns if c.pk in batch.breached]
    work.update(touched, CONCERN_WRITTEN)
    involved = [c.holder for c in touched] + [c.unit for c in touched] + [e.sender for e in batch.escalated.values()]
    directory = Directory.for_organisations(involved)
    work.tell(*(Sidelined(concern=c, rule=rule, at=batch.now, directory=directory) for c, rule in batch.alerts))
    told = work.flush().told
    notices_send(_notices(batch, directory))
    return told.get(Sidelined, 0)


def _concerns_lock(concern_ids: set[int]) -> dict[int, Concern]:
    """Lock the concerns (SKIP LOCKED) and give each its organisations and policy, fetched once for
    the batch: a batch's concerns share a few bodies, and one instance per body also parses its
    calendar once, not once per concern."""
    concerns = {
        c.pk: c
        for c in Concern.objects.select_for_update(skip_locked=True, of=("self",))
        .only(*CONCERN_FIELDS)
        .filter(IdsIn(F("pk"), concern_ids))
    }
    ids = {c.holder_id for c in concerns.values()} | {c.unit_id for c in concerns.values()}
    # The bodies themselves and the next body up each one's route, in one query.
    organisations = Organisation.objects.filter(
        Q(pk__in=ids) | Q(pk__in=Organisation.objects.filter(pk__in=ids).values("escalates_to"))
    ).in_bulk()
    for organisation in organisations.values():
        if organisation.escalates_to_id in organisations:
            organisation.escalates_to = organisations[organisation.escalates_to_id]
    # The parsed rules are cached per process by id and version; the document itself is not needed.
    policies = EscalationPolicy.objects.only("id", "version").in_bulk({c.policy_id for c in concerns.values()})
    for concern in concerns.values():
        concern.holder = organisations[concern.holder_id]
        concern.unit = organisations[concern.unit_id]
        concern.policy = policies[concern.policy_id]
    return concerns


def _sweep_batch(*, now: datetime, batch_size: int) -> tuple[int, int, int, bool]:
    """One locked batch: (fired, escalated, alerts, more); ``more`` if the batch was full and fired any."""
    with transaction.atomic():
        due = [
            DueClock(*row)
            for row in Clock.objects.select_for_update(skip_locked=True)
            .filter(status=ClockStatus.PENDING, paused_at__isnull=True, due_at__lte=now)
            .order_by("due_at", "pk")
            .values_list("pk", "concern_id", "kind", "route_level", "due_at", "on_breach")[:batch_size]
        ]
        if not due:
            return 0, 0, 0, False
        concerns = _concerns_lock({clock.concern_id for clock in due})
        batch = _Batch(now=now)
        for clock in due:
            concern = concerns.get(clock.concern_id)
            if concern is not None:  # else someone is working on it: the next sweep fires it
                _fire(batch, clock, concern)
        alerts = _write(batch, concerns.values())
        # Carry on while batches make progress: a concern someone holds locked waits for the next sweep,
        # not the whole backlog behind it.
        return len(batch.fired), len(batch.escalated), alerts, len(due) == batch_size and bool(batch.fired)


class RemindClock(NamedTuple):
    pk: int
    concern_id: int
    kind: str
    route_level: int
    due_at: datetime


def _remind_batch(*, now: datetime, batch_size: int) -> tuple[int, bool]:
    """One locked batch of reminders before a deadline: (reminded, more). A clock is taken while its
    reminder time has come and its deadline has not (the fire pass runs first, and a clock already
    due is the breach's business, never a reminder's), running, not paused and not yet reminded; it is
    marked reminded in the transaction that writes its outbox rows, so it is reminded once, and two
    sweeps at once take disjoint rows (SKIP LOCKED, clocks then concerns, as the fire pass)."""
    with transaction.atomic():
        due = [
            RemindClock(*row)
            for row in Clock.objects.select_for_update(skip_locked=True)
            .filter(
                status=ClockStatus.PENDING,
                paused_at__isnull=True,
                reminded_at__isnull=True,
                remind_at__lte=now,
                due_at__gt=now,
            )
            .order_by("remind_at", "pk")
            .values_list("pk", "concern_id", "kind", "route_level", "due_at")[:batch_size]
        ]
        if not due:
            return 0, False
        concerns = _concerns_lock({clock.concern_id for clock in due})
        taken = [clock for clock in due if clock.concern_id in concerns]  # else someone holds it: next sweep
        # Re-check at reminder time, as at fire time: an ended concern, or one moved on, needs none.
        live = [
            clock
            for clock in taken
            if concerns[clock.concern_id].state not in lifecycle.TERMINAL
            and concerns[clock.concern_id].route_level == clock.route_level
        ]
        Clock.objects.filter(IdsIn(F("pk"), [clock.pk for clock in taken])).update(reminded_at=now)
        directory = Directory.for_organisations({concerns[c.concern_id].holder for c in live})
        assignees = User.objects.in_bulk({concerns[c.concern_id].assignee_id for c in live} - {None})
        requests: list[DeliveryRequest] = []
        for clock in live:
            concern = concerns[clock.concern_id]
            requests += due_soon_notices(
                directory=directory,
                clock_id=clock.pk,
                kind=clock.kind,
                due_at=clock.due_at,
                concern=concern,
                assignee=assignees.get(concern.assignee_id) if concern.assignee_id else None,
                now=now,
            )
        notices_send(requests, now=now)
        return len(live), len(due) == batch_size and bool(taken)


def clocks_fire_due(*, now: datetime | None = None, batch_size: int = SWEEP_BATCH) -> SweepResult:
    """Fire every clock that has fallen due by ``now``, then remind those handling concerns whose
    deadlines fall due soon, then alert on actions past their due date, then ask the check-ins after
    closure that have fallen due; each batch commits on its own."""
    now = now or timezone.now()
    result = SweepResult()
    more = True
    while more:
        fired, escalated, alerts, more = _sweep_batch(now=now, batch_size=batch_size)
        result.fired += fired
        result.escalated += escalated
        result.alerts += alerts
    more = True
    while more:
        reminded, more = _remind_batch(now=now, batch_size=batch_size)
        result.reminded += reminded
    # Actions' due dates are deadlines too, one per action rather than one Clock per kind.
    result.actions_overdue = actions_overdue_alert(now=now, batch_size=batch_size)
    # After closure: check-ins fall due and lapse, and numbers kept for them are purged, by time.
    result.check_ins_asked = aftercare_sweep(now=now, batch_size=batch_size)
    if result.fired or result.reminded:
        logger.info("clock sweep fired=%s escalated=%s reminded=%s", result.fired, result.escalated, result.reminded)
    return result
