"""Many concerns quickly, written as ``services.concern_raise`` writes them, for sweep and fault tests.

``concern_raise`` writes one concern per statement, several round trips in all; the fault tests need
thousands. ``concerns_seed`` writes the same rows with bulk statements: the concern, its
receipt, its ``raised`` Event (a real link of the audit chain) and the clocks ``concern_raise`` starts.
What it leaves out is the guardians' new-concern notices and the "repeat" alert the arrival sweep
opens for a second concern on the same unit and theme (seeded concerns count as checked), which
nothing here is about. tests/integration/test_sweep_queries.py checks that a seeded
concern matches a raised one, so this copy cannot drift from the service unnoticed.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from backend.concerns.audit import raised_event_build
from backend.concerns.clocks import ALL_KINDS, clocks_build
from backend.concerns.crypto import receipt_digest, receipt_new, receipt_normalise, reference_new
from backend.concerns.models import Clock, ClockStatus, Concern, Event, Receipt
from backend.organisations.models import Organisation
from backend.organisations.policies import policy_for_organisation

CHUNK = 1000


def _chunk(*, unit: Organisation, count: int, received_at: datetime, raiser_kind: str, themes: list[str]) -> list[int]:
    policy = policy_for_organisation(organisation=unit)
    concerns = [
        Concern(
            reference=reference_new(),
            raiser_kind=raiser_kind,
            identity_mode="anonymous",
            themes=themes,
            channel="web",
            unit=unit,
            holder=unit,
            route_level=0,
            what_happened=f"Seeded concern {i}",
            received_at=received_at,
            last_activity_at=received_at,
            policy=policy,
            arrival_checks_pending=False,  # see the module's note: no repeat alerts here
        )
        for i in range(count)
    ]
    Concern.objects.bulk_create(concerns)  # PostgreSQL returns the new primary keys
    Receipt.objects.bulk_create(
        Receipt(concern=c, digest=receipt_digest(receipt_normalise(receipt_new()) or "")) for c in concerns
    )
    events = [raised_event_build(concern=c, channel="web", now=received_at) for c in concerns]
    Event.objects.bulk_create(events)
    Clock.objects.bulk_create(
        clock for c in concerns for clock in clocks_build(concern=c, kinds=ALL_KINDS, now=received_at, first_start=True)
    )
    Concern.objects.bulk_update(concerns, ["audit_seq", "audit_head"])
    return [c.pk for c in concerns]


def concerns_seed(
    *,
    unit: Organisation,
    count: int,
    now: datetime | None = None,
    raiser_kind: str = "staff",
    themes: Iterable[str] = ("patient_safety",),
) -> list[int]:
    """``count`` anonymous web concerns about ``unit``, received at ``now``; their ids, in order."""
    now = now or timezone.now()
    received_at = now.replace(minute=0, second=0, microsecond=0)  # anonymous: to the hour, as the service does
    ids: list[int] = []
    for start in range(0, count, CHUNK):
        with transaction.atomic():
            ids += _chunk(
                unit=unit,
                count=min(CHUNK, count - start),
                received_at=received_at,
                raiser_kind=raiser_kind,
                themes=sorted(set(themes)),
            )
    return ids


def acknowledge_due(*, concern_ids: list[int], at: datetime) -> int:
    """Put the running acknowledge clocks of these concerns due at ``at``, as if the days had passed."""
    return Clock.objects.filter(concern_id__in=concern_ids, kind="acknowledge", status=ClockStatus.PENDING).update(
        due_at=at
    )
