"""Starting, stopping, touching and pausing a concern's clocks, by its policy version.

Clocks are rows: the sweep (backend.concerns.sweep) fires those that fall due. These helpers run
inside the caller's transaction, with the concern row locked.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from backend.concerns.models import Clock, ClockStatus, Concern
from backend.config.db import UnitOfWork
from backend.organisations.models import OrganisationKind
from backend.organisations.policies import policy_rules
from workflows.engine.calendar import WorkingCalendar
from workflows.engine.policy import ClockKind, ClockRule, Facts, Unit

ALL_KINDS: tuple[str, ...] = tuple(k.value for k in ClockKind)
# Bodies outside the provider a concern is about: their feedback clock is the external one.
EXTERNAL_KINDS = frozenset({OrganisationKind.ICB, OrganisationKind.REGULATOR})


def concern_facts(concern: Concern) -> Facts:
    return Facts(
        raiser_kind=concern.raiser_kind,
        themes=frozenset(concern.themes),
        urgent=concern.urgent,
        external=concern.holder.kind in EXTERNAL_KINDS,
        detriment=concern.detriment_of_id is not None,
    )


def clock_build(*, concern: Concern, rule: ClockRule, start: datetime, now: datetime) -> Clock:
    calendar = concern.holder.calendar
    due = rule.due(start=start, calendar=calendar)
    return Clock(
        concern=concern,
        kind=rule.kind,
        holder=concern.holder,
        route_level=concern.route_level,
        started_at=now,
        due_at=due,
        # Never before the clock starts running, whatever its counting start (the feedback fallback).
        remind_at=rule.remind_at(due=due, start=max(start, now), calendar=calendar),
        unit=rule.unit,
        on_breach=[a.value for a in rule.on_breach],
    )


def clocks_build(*, concern: Concern, kinds: Iterable[str], now: datetime, first_start: bool = False) -> list[Clock]:
    """Unsaved clocks of the given kinds for the concern where it is now. ``first_start``: the concern
    has just arrived and is not acknowledged, so a feedback clock counts from its fallback start."""
    policy = policy_rules(policy=concern.policy)
    facts = concern_facts(concern)
    clocks = []
    for kind in kinds:
        rule = policy.rule_for(kind, facts)
        if rule is None:
            continue
        fallback = rule.fallback_start(now) if first_start else None
        clocks.append(clock_build(concern=concern, rule=rule, start=fallback or now, now=now))
    return clocks


def clocks_start(
    work: UnitOfWork, *, concern: Concern, kinds: Sequence[str], now: datetime, first_start: bool = False
) -> None:
    """Add to ``work`` the kinds not already running (one running clock per kind is also a
    constraint, so the caller stops a kind before starting it again)."""
    running = set(
        Clock.objects.filter(concern=concern, status=ClockStatus.PENDING, kind__in=kinds).values_list("kind", flat=True)
    )
    missing = [k for k in kinds if k not in running]
    work.add(*clocks_build(concern=concern, kinds=missing, now=now, first_start=first_start))


def clocks_stop(*, concern_ids: Sequence[int], kinds: Sequence[str] = ALL_KINDS) -> None:
    Clock.objects.filter(concern_id__in=concern_ids, status=ClockStatus.PENDING, kind__in=kinds).update(
        status=ClockStatus.STOPPED
    )


def clock_restart(work: UnitOfWork, *, concern: Concern, kind: str, now: datetime) -> None:
    """Stop the running clock of this kind and add a fresh one from now to ``work``."""
    clocks_stop(concern_ids=[concern.pk], kinds=[kind])
    clocks_start(work, concern=concern, kinds=[kind], now=now)


def inactivity_touch(*, concern: Concern, now: datetime) -> None:
    """Recorded activity: the inactivity deadline counts again from now (one UPDATE, no new row)."""
    rule = policy_rules(policy=concern.policy).rule_for(ClockKind.INACTIVITY, concern_facts(concern))
    if rule is None:
        return
    calendar = concern.holder.calendar
    due = rule.due(start=now, calendar=calendar)
    # A new quiet period: its own reminder before its own deadline (the outbox key names the deadline).
    Clock.objects.filter(
        concern=concern, kind=ClockKind.INACTIVITY, status=ClockStatus.PENDING, paused_at__isnull=True
    ).update(due_at=due, remind_at=rule.remind_at(due=due, start=now, calendar=calendar), reminded_at=None)


def clocks_pause(*, concern: Concern, reason: str, now: datetime) -> int:
    return Clock.objects.filter(concern=concern, status=ClockStatus.PENDING, paused_at__isnull=True).update(
        paused_at=now, pause_reason=reason[:200]
    )


def resumed_due(*, clock: Clock, calendar: WorkingCalendar, now: datetime, at: datetime | None = None) -> datetime:
    """The deadline (or ``at``, its reminder time) moved by exactly the time paused: working time for
    working-day clocks."""
    assert clock.paused_at is not None
    moment = clock.due_at if at is None else at
    if clock.unit == Unit.WORKING_DAYS:
        return calendar.add_working_seconds(moment, calendar.working_seconds_between(clock.paused_at, now))
    return moment + max(now - clock.paused_at, timedelta(0))


def clocks_resume(*, concern: Concern, now: datetime) -> int:
    paused = list(Clock.objects.filter(concern=concern, status=ClockStatus.PENDING, paused_at__isnull=False))
    calendar = concern.holder.calendar
    for clock in paused:
        if clock.remind_at is not None:
            clock.remind_at = resumed_due(clock=clock, calendar=calendar, now=now, at=clock.remind_at)
        clock.due_at = resumed_due(clock=clock, calendar=calendar, now=now)
        clock.paused_at = None
        clock.pause_reason = ""
    Clock.objects.bulk_update(paused, ["due_at", "remind_at", "paused_at", "pause_reason"])
    return len(paused)
