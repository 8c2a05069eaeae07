"""The clock sweep costs a constant number of queries a batch, whatever the number of open concerns
and however many clocks are due in the batch (ARCHITECTURE.md, "Time").

Each measurement seeds its concerns, puts some acknowledge clocks due and counts the queries of one
``clocks_fire_due``; a first sweep beforehand fills the per-process caches (the parsed policy).
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from backend.concerns.audit import BrokenLink, audit_verify
from backend.concerns.models import Clock, Concern, Event, Receipt
from backend.concerns.services.sweep import clocks_fire_due
from backend.organisations.models import Organisation
from tests.support.factories import ConcernFactory
from tests.support.seeding import acknowledge_due, concerns_seed

pytestmark = pytest.mark.django_db

BATCH = 200


def _shape(sql: str) -> str:
    """A query with its values taken out, so the same statement over other rows reads the same."""
    sql = re.sub(r'"s\d+_x\d+"', "SAVEPOINT_ID", sql)
    sql = re.sub(r"'(?:[^']|'')*'", "?", sql)
    sql = re.sub(r"\b\d+(\.\d+)?\b", "?", sql)
    return re.sub(r"(\?(, )?)+", "?", sql)[:160]


def _sweep(*, ward: Organisation, due: int, open_: int = 0, batch_size: int = BATCH) -> list[str]:
    """Seed ``open_`` concerns with nothing due and ``due`` with their acknowledge clock passed;
    sweep; return the SQL of the sweep."""
    now = timezone.now()
    concerns_seed(unit=ward, count=open_, now=now)
    due_ids = concerns_seed(unit=ward, count=due, now=now)
    acknowledge_due(concern_ids=due_ids, at=now - timedelta(minutes=1))
    with CaptureQueriesContext(connection) as ctx:
        result = clocks_fire_due(now=now, batch_size=batch_size)
    assert (result.fired, result.escalated) == (due, due)
    return [q["sql"] for q in ctx.captured_queries]


def _explain(first: list[str], second: list[str]) -> str:
    """Which statements the larger sweep ran more often than the smaller, for the failure message."""
    more = Counter(map(_shape, second)) - Counter(map(_shape, first))
    return f"{len(first)} vs {len(second)} queries; run more often: " + "; ".join(
        f"{n} x {shape}" for shape, n in more.most_common(5)
    )


@pytest.fixture
def warm(demo: None) -> Organisation:
    ward = Organisation.objects.get(code="RNX07")
    _sweep(ward=ward, due=1)
    return ward


def test_queries_per_batch_do_not_depend_on_the_number_of_open_concerns(warm: Organisation) -> None:
    few = _sweep(ward=warm, due=50, open_=10)
    many = _sweep(ward=warm, due=50, open_=500)
    assert Concern.objects.count() > 600
    assert len(few) == len(many), _explain(few, many)


def test_queries_per_batch_do_not_grow_with_the_clocks_due_in_it(warm: Organisation) -> None:
    ten = _sweep(ward=warm, due=10, open_=100)
    many = _sweep(ward=warm, due=150, open_=100)
    assert len(ten) == len(many), _explain(ten, many)


def test_every_further_batch_costs_the_same(warm: Organisation) -> None:
    # 50 due, batches of 50: one full batch, then a look that finds none left. 150 due: three full
    # batches and the same look. So 150 costs two batches more than 50. Every sweep ends with the
    # same look for reminders due (as a sweep with nothing due does), so one batch costs what 50 due
    # costs beyond a sweep with nothing due.
    idle = _sweep(ward=warm, due=0, batch_size=50)
    full = _sweep(ward=warm, due=50, batch_size=50)
    three = _sweep(ward=warm, due=150, batch_size=50)
    assert len(three) - len(full) == 2 * (len(full) - len(idle)), _explain(full, three)


def test_a_seeded_concern_is_written_as_concern_raise_writes_one(demo: None) -> None:
    """tests/support/seeding.py mirrors services.concern_raise with bulk statements; if the service
    changes what it writes, this says so before a fault test measures the wrong thing."""
    ward = Organisation.objects.get(code="RNX07")
    at = datetime(2026, 3, 2, 10, 17, tzinfo=UTC)
    raised = ConcernFactory(unit=ward, themes=["patient_safety"], what_happened="Seeded concern 0", now=at)
    (seeded_id,) = concerns_seed(unit=ward, count=1, now=at)
    seeded = Concern.objects.get(pk=seeded_id)
    raised.refresh_from_db()

    fields = [
        f.attname
        for f in Concern._meta.concrete_fields
        # Seeded concerns count their arrival checks as done; a raised one waits for the arrival sweep.
        if f.attname not in {"id", "reference", "audit_head", "submission_digest", "arrival_checks_pending"}
    ]
    assert {f: getattr(seeded, f) for f in fields} == {f: getattr(raised, f) for f in fields}

    def events(concern: Concern) -> list[tuple[object, ...]]:
        return list(
            Event.objects.filter(concern=concern)
            .order_by("seq")
            .values_list("seq", "kind", "actor_id", "actor_role", "from_state", "to_state", "data", "created_at")
        )

    def clocks(concern: Concern) -> list[tuple[object, ...]]:
        return list(
            Clock.objects.filter(concern=concern)
            .order_by("kind")
            .values_list(
                "kind", "holder_id", "route_level", "started_at", "due_at", "remind_at", "status", "unit", "on_breach"
            )
        )

    assert events(seeded) == events(raised)
    assert clocks(seeded) == clocks(raised)
    assert Receipt.objects.filter(concern__in=[seeded, raised]).count() == 2
    assert not [link for link in audit_verify() if isinstance(link, BrokenLink)]
