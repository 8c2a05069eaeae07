"""The clock sweep: fire every clock that has fallen due, in batches, a constant number of queries each.

A batch locks its due clocks and then their concerns, both with SKIP LOCKED: a concern a person is
working on right now is left for the next sweep rather than waited on (services lock the concern
first and the clocks second; waiting here in the other order could deadlock). Each clock is checked
against the concern as it is at fire time; then the batch is written with bulk statements. Two sweeps
at once take disjoint rows, and a clock's status changes once, so nothing fires or escalates twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from backend.concerns.audit import event_build
from backend.concerns.clocks import ALL_KINDS, clocks_build
from backend.concerns.escalation import escalation_step
from backend.concerns.models import Clock, ClockStatus, Concern, Event
from backend.concerns.notices import Directory, escalation_notices, notices_send, reminder_notices
from backend.config.db import rows_insert, rows_update
from backend.oversight.figures import figures_record
from backend.oversight.services import alerts_open
from notifications.services import DeliveryRequest
from workflows.engine import lifecycle
from workflows.engine.lifecycle import Actor
from workflows.engine.policy import BreachAction
from workflows.engine.sidelining import BREACH_RULE, Rule

logger = logging.getLogger(__name__)

SWEEP_BATCH = 200
# A clock fired this long after it fell due is marked late: the sweep was down or behind.
LATE_AFTER = timedelta(minutes=5)
ESCALATABLE = frozenset(t for t in lifecycle.BY_NAME["escalate"].sources)


@dataclass
class SweepResult:
    fired: int = 0
    escalated: int = 0
    alerts: int = 0


@dataclass
class _Batch:
    now: datetime
    fired: list[Clock] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    new_clocks: list[Clock] = field(default_factory=list)
    escalated: dict[int, Concern] = field(default_factory=dict)
    senders: dict[int, object] = field(default_factory=dict)
    alerts: list[tuple[Concern, Rule]] = field(default_factory=list)
    reminders: list[tuple[Clock, Concern]] = field(default_factory=list)


def _fire(batch: _Batch, clock: Clock, concern: Concern) -> None:
    now = batch.now
    clock.status, clock.fired_at = ClockStatus.FIRED, now
    clock.late = now - clock.due_at > LATE_AFTER
    batch.fired.append(clock)
    # Re-check at fire time: closed, withdrawn or already moved on means the breach no longer applies.
    if concern.state in lifecycle.TERMINAL or concern.route_level != clock.route_level:
        return
    batch.events.append(
        event_build(
            concern=concern,
            kind="clock_breached",
            actor_id=None,
            actor_role=Actor.SYSTEM,
            now=now,
            data={"clock": clock.kind, "level": clock.route_level, "late": clock.late},
        )
    )
    actions = set(clock.on_breach)
    if BreachAction.ALERT_GOVERNORS in actions:
        batch.alerts.append((concern, BREACH_RULE[clock.kind]))
    if BreachAction.REMIND in actions:
        batch.reminders.append((clock, concern))
    if BreachAction.ESCALATE in actions and concern.state in ESCALATABLE:
        step = escalation_step(
            concern=concern, actor=Actor.SYSTEM, actor_id=None, now=now, reason=f"{clock.kind}_breached"
        )
        if step is not None:
            batch.events.append(step.event)
            batch.escalated[concern.pk] = concern
            batch.senders[concern.pk] = step.sender
            if step.bounced:
                batch.alerts.append((concern, Rule.BOUNCED))


def _write(batch: _Batch, concerns: dict[int, Concern]) -> int:
    # Every clock of the batch fires at the same moment; "late" follows from its due time.
    Clock.objects.filter(pk__in=[c.pk for c in batch.fired]).update(
        status=ClockStatus.FIRED, fired_at=batch.now, late=Q(due_at__lt=batch.now - LATE_AFTER)
    )
    if batch.escalated:
        ids = list(batch.escalated)
        Clock.objects.filter(concern_id__in=ids, status=ClockStatus.PENDING).update(status=ClockStatus.STOPPED)
        for concern in batch.escalated.values():
            batch.new_clocks += clocks_build(concern=concern, kinds=ALL_KINDS, now=batch.now)
        rows_insert(batch.new_clocks)
    rows_insert(batch.events)
    touched_ids = {e.concern_id for e in batch.events}
    touched = [c for c in concerns.values() if c.pk in touched_ids]
    rows_update(touched, ["state", "holder", "route_level", "handovers", "last_activity_at", "audit_seq", "audit_head"])
    figures_record(events=batch.events)
    involved = [c.holder for c in touched] + [c.unit for c in touched] + list(batch.senders.values())
    directory = Directory.for_organisations(involved)  # type: ignore[arg-type]
    requests: list[DeliveryRequest] = []
    for concern_id, concern in batch.escalated.items():
        requests += escalation_notices(
            directory=directory,
            concern=concern,
            sender=batch.senders[concern_id],  # type: ignore[arg-type]
            reason=next(e.data["reason"] for e in batch.events if e.concern_id == concern_id and e.kind == "escalate"),
        )
    for clock, concern in batch.reminders:
        requests += reminder_notices(directory=directory, clock_id=clock.pk, concern=concern, assignee=concern.assignee)
    notices_send(requests)
    return len(alerts_open(items=batch.alerts, now=batch.now, directory=directory))


def _sweep_batch(*, now: datetime, batch_size: int) -> tuple[int, int, int, bool]:
    """One locked batch: (fired, escalated, alerts, more); ``more`` if the batch was full and fired any."""
    with transaction.atomic():
        due = list(
            Clock.objects.select_for_update(skip_locked=True)
            .filter(status=ClockStatus.PENDING, paused_at__isnull=True, due_at__lte=now)
            .order_by("due_at", "pk")[:batch_size]
        )
        if not due:
            return 0, 0, 0, False
        concerns = {
            c.pk: c
            for c in Concern.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("holder", "holder__escalates_to", "unit", "policy", "assignee")
            .filter(pk__in={clock.concern_id for clock in due})
        }
        batch = _Batch(now=now)
        for clock in due:
            concern = concerns.get(clock.concern_id)
            if concern is not None:  # else someone is working on it: the next sweep fires it
                _fire(batch, clock, concern)
        alerts = _write(batch, concerns)
        # Carry on while batches make progress: a concern someone holds locked waits for the next sweep,
        # not the whole backlog behind it.
        return len(batch.fired), len(batch.escalated), alerts, len(due) == batch_size and bool(batch.fired)


def clocks_fire_due(*, now: datetime | None = None, batch_size: int = SWEEP_BATCH) -> SweepResult:
    """Fire every clock that has fallen due by ``now``; each batch commits on its own."""
    now = now or timezone.now()
    result = SweepResult()
    more = True
    while more:
        fired, escalated, alerts, more = _sweep_batch(now=now, batch_size=batch_size)
        result.fired += fired
        result.escalated += escalated
        result.alerts += alerts
    if result.fired:
        logger.info("clock sweep fired=%s escalated=%s", result.fired, result.escalated)
    return result
