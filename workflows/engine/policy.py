"""Escalation policies: which clocks run, how long they are, and what a breach does.

A policy is data (YAML or JSON in workflows/policies, or a version edited in the admin), checked
against POLICY_SCHEMA on load and turned into frozen dataclasses. Rules are tried in order; the
first whose conditions match the concern's facts decides that kind of clock, so specific rules
(urgent, external) come before general ones. Pure: no Django, no storage.
"""

from __future__ import annotations

import calendar as _calendar
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from workflows.engine.calendar import WorkingCalendar
from workflows.engine.vocabulary import RaiserKind, Theme

POLICY_DIR = Path(__file__).resolve().parents[1] / "policies"


class ClockKind(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    FEEDBACK = "feedback"
    INACTIVITY = "inactivity"


class Unit(StrEnum):
    WORKING_DAYS = "working_days"
    CALENDAR_DAYS = "calendar_days"
    MONTHS = "months"


class BreachAction(StrEnum):
    REMIND = "remind"
    ESCALATE = "escalate"
    ALERT_GOVERNORS = "alert_governors"


RAISER_KINDS = [k.value for k in RaiserKind]
THEMES = [t.value for t in Theme]

POLICY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "clocks"],
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 100},
        "description": {"type": "string"},
        "clocks": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["kind", "length", "on_breach"],
                "properties": {
                    "kind": {"enum": [k.value for k in ClockKind]},
                    "when": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "raiser_kind": {"type": "array", "items": {"enum": RAISER_KINDS}, "minItems": 1},
                            "themes": {"type": "array", "items": {"enum": THEMES}, "minItems": 1},
                            "urgent": {"type": "boolean"},
                            "external": {"type": "boolean"},
                            # A detriment case (reported after closure) has clocks of its own.
                            "detriment": {"type": "boolean"},
                        },
                    },
                    "length": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["amount", "unit"],
                        "properties": {
                            "amount": {"type": "integer", "minimum": 1, "maximum": 366},
                            "unit": {"enum": [u.value for u in Unit]},
                        },
                    },
                    # A feedback clock that starts before acknowledgement: this many calendar days after
                    # receipt (the directive's "from day 7 if never acknowledged").
                    "fallback_start_days": {"type": "integer", "minimum": 0, "maximum": 90},
                    # Those handling the concern are reminded this long before the deadline, once.
                    "remind_before": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["amount", "unit"],
                        "properties": {
                            "amount": {"type": "integer", "minimum": 1, "maximum": 366},
                            "unit": {"enum": [Unit.WORKING_DAYS.value, Unit.CALENDAR_DAYS.value]},
                        },
                    },
                    "on_breach": {
                        "type": "array",
                        "minItems": 1,
                        "uniqueItems": True,
                        "items": {"enum": [a.value for a in BreachAction]},
                    },
                },
            },
        },
        # After closure: when the raiser is asked how things are (months after closing), how long the
        # last question stays open, and how long an SMS raiser's number waits for their consent.
        "aftercare": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "check_in_months": {
                    "type": "array",
                    "minItems": 1,
                    "uniqueItems": True,
                    "items": {"type": "integer", "minimum": 1, "maximum": 60},
                },
                "last_open_days": {"type": "integer", "minimum": 1, "maximum": 366},
                "consent_days": {"type": "integer", "minimum": 1, "maximum": 30},
            },
        },
    },
}


class PolicyError(ValueError):
    """A policy document that does not match the schema; the message says where."""


@dataclass(frozen=True)
class Facts:
    """What a policy may look at: never narrative, never identity."""

    raiser_kind: str
    themes: frozenset[str]
    urgent: bool
    external: bool  # held by a body outside the provider it is about (commissioner, regulator)
    detriment: bool = False  # a detriment case, reported after the concern it follows closed


@dataclass(frozen=True)
class Conditions:
    raiser_kind: frozenset[str] | None = None
    themes: frozenset[str] | None = None
    urgent: bool | None = None
    external: bool | None = None
    detriment: bool | None = None

    def match(self, facts: Facts) -> bool:
        return (
            (self.raiser_kind is None or facts.raiser_kind in self.raiser_kind)
            and (self.themes is None or bool(self.themes & facts.themes))
            and (self.urgent is None or facts.urgent == self.urgent)
            and (self.external is None or facts.external == self.external)
            and (self.detriment is None or facts.detriment == self.detriment)
        )


def add_months(start: datetime, months: int, tz: Any) -> datetime:
    local = start.astimezone(tz)
    month_index = local.month - 1 + months
    year, month = local.year + month_index // 12, month_index % 12 + 1
    day = min(local.day, _calendar.monthrange(year, month)[1])
    naive = local.replace(tzinfo=None).replace(year=year, month=month, day=day)
    return naive.replace(tzinfo=tz).astimezone(start.tzinfo)


@dataclass(frozen=True)
class Lead:
    """How long before a deadline those handling the concern are reminded."""

    amount: int
    unit: Unit  # working or calendar days

    def before(self, due: datetime, calendar: WorkingCalendar) -> datetime:
        if self.unit is Unit.WORKING_DAYS:
            return calendar.subtract_working_days(due, self.amount)
        return calendar.subtract_calendar_days(due, self.amount)


@dataclass(frozen=True)
class ClockRule:
    kind: ClockKind
    amount: int
    unit: Unit
    on_breach: tuple[BreachAction, ...]
    when: Conditions = Conditions()
    fallback_start_days: int | None = None
    remind_before: Lead | None = None

    def due(self, *, start: datetime, calendar: WorkingCalendar) -> datetime:
        if self.unit is Unit.WORKING_DAYS:
            return calendar.add_working_days(start, self.amount)
        if self.unit is Unit.CALENDAR_DAYS:
            return calendar.add_calendar_days(start, self.amount)
        return add_months(start, self.amount, calendar.tz)

    def remind_at(self, *, due: datetime, start: datetime, calendar: WorkingCalendar) -> datetime | None:
        """When to remind those handling the concern of the deadline ``due``: the rule's lead before
        it, always strictly between the clock's start and its deadline. None when the rule asks no
        reminder, or the clock is too short for its lead (a reminder at the start says nothing the
        notice that started it did not)."""
        if self.remind_before is None:
            return None
        at = self.remind_before.before(due, calendar)
        return at if start < at < due else None

    def fallback_start(self, received_at: datetime) -> datetime | None:
        return None if self.fallback_start_days is None else received_at + timedelta(days=self.fallback_start_days)


@dataclass(frozen=True)
class CheckInDue:
    """One check-in after closure: asked from ``due_at``, answerable until ``closes_at``."""

    months: int
    due_at: datetime
    closes_at: datetime


@dataclass(frozen=True)
class Aftercare:
    """What happens after a concern closes. The defaults are Candour's: the raiser is asked at 1, 3,
    6 and 12 months (detriment tends to start after closure, when the raiser is forgotten); each
    question stays open until the next is asked, the last for ``last_open_days``; an SMS raiser has
    ``consent_days`` to say yes to being texted before their number is purged."""

    check_in_months: tuple[int, ...] = (1, 3, 6, 12)
    last_open_days: int = 30
    consent_days: int = 7

    def schedule(self, *, closed_at: datetime, tz: Any) -> list[CheckInDue]:
        """The check-ins for a concern closed at ``closed_at``, in order: each ``months`` calendar
        months later in the holder's time zone (the 31st becomes the month's last day), each open
        until the next falls due. Strictly increasing, whatever the order or repeats in the policy."""
        months = sorted(set(self.check_in_months))
        dues = [add_months(closed_at, m, tz) for m in months]
        closes = [*dues[1:], dues[-1] + timedelta(days=self.last_open_days)]
        return [CheckInDue(months=m, due_at=d, closes_at=c) for m, d, c in zip(months, dues, closes, strict=True)]

    def consent_until(self, closed_at: datetime) -> datetime:
        return closed_at + timedelta(days=self.consent_days)


@dataclass(frozen=True)
class Policy:
    name: str
    rules: tuple[ClockRule, ...]
    aftercare: Aftercare = Aftercare()

    def rule_for(self, kind: ClockKind | str, facts: Facts) -> ClockRule | None:
        return next((r for r in self.rules if r.kind == kind and r.when.match(facts)), None)


def _conditions(raw: Mapping[str, Any]) -> Conditions:
    return Conditions(
        raiser_kind=frozenset(raw["raiser_kind"]) if "raiser_kind" in raw else None,
        themes=frozenset(raw["themes"]) if "themes" in raw else None,
        urgent=raw.get("urgent"),
        external=raw.get("external"),
        detriment=raw.get("detriment"),
    )


def _lead(raw: Mapping[str, Any] | None) -> Lead | None:
    return None if raw is None else Lead(amount=raw["amount"], unit=Unit(raw["unit"]))


def policy_parse(document: Mapping[str, Any]) -> Policy:
    """Check a policy document against the schema and build it; PolicyError says what is wrong."""
    validator = jsonschema.Draft202012Validator(POLICY_SCHEMA)
    errors = sorted(validator.iter_errors(dict(document)), key=lambda e: list(e.path))
    if errors:
        first = errors[0]
        where = "/".join(str(p) for p in first.absolute_path) or "(top)"
        raise PolicyError(f"{where}: {first.message}")
    rules = tuple(
        ClockRule(
            kind=ClockKind(raw["kind"]),
            amount=raw["length"]["amount"],
            unit=Unit(raw["length"]["unit"]),
            on_breach=tuple(BreachAction(a) for a in raw["on_breach"]),
            when=_conditions(raw.get("when", {})),
            fallback_start_days=raw.get("fallback_start_days"),
            remind_before=_lead(raw.get("remind_before")),
        )
        for raw in document["clocks"]
    )
    raw_aftercare = document.get("aftercare", {})
    aftercare = Aftercare(
        check_in_months=tuple(raw_aftercare.get("check_in_months", Aftercare.check_in_months)),
        last_open_days=raw_aftercare.get("last_open_days", Aftercare.last_open_days),
        consent_days=raw_aftercare.get("consent_days", Aftercare.consent_days),
    )
    return Policy(name=document["name"], rules=rules, aftercare=aftercare)


def policy_document_load(name: str = "default") -> dict[str, Any]:
    """A policy file from workflows/policies, parsed (and so validated) before it is returned."""
    document: dict[str, Any] = yaml.safe_load((POLICY_DIR / f"{name}.yaml").read_text())
    policy_parse(document)
    return document
