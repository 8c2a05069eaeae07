"""Many concerns quickly, built by the same builders ``services.concern_raise`` uses, for sweep and
fault tests.

``concern_raise`` writes one concern per statement; the fault tests need thousands. ``concerns_seed``
builds each concern with intake's ``concern_build`` and what goes beside it with
``concern_rows_build`` (its receipt, its ``raised`` Event, a real link of the audit chain, and its
clocks), and writes a thousand at a time through the unit of work, so the figures follow from the
Events as they do at intake. What it leaves out is the guardians' new-concern notices and the
"repeat" alert the arrival sweep opens for a second concern on the same unit and theme (seeded
concerns count as checked), which nothing here is about. tests/integration/test_sweep_queries.py
checks that a seeded concern matches a raised one.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from backend.concerns.crypto import receipt_new, reference_new
from backend.concerns.models import Clock, ClockStatus, Concern
from backend.concerns.services.intake import ConcernDraft, concern_build, concern_rows_build
from backend.config.db import UnitOfWork
from backend.organisations.models import Organisation
from backend.organisations.policies import policy_for_organisation

CHUNK = 1000


def _chunk(*, unit: Organisation, count: int, now: datetime, raiser_kind: str, themes: list[str]) -> list[int]:
    policy = policy_for_organisation(organisation=unit)
    concerns: list[Concern] = []
    for i in range(count):
        draft = ConcernDraft(
            unit=unit,
            raiser_kind=raiser_kind,
            identity_mode="anonymous",
            themes=themes,
            what_happened=f"Seeded concern {i}",
        )
        concern = concern_build(draft, now=now, policy=policy)
        concern.reference = reference_new()
        concern.arrival_checks_pending = False  # see the module's note: no repeat alerts here
        concerns.append(concern)
    first = UnitOfWork()
    first.add(*concerns)
    first.flush()  # the concerns' keys, which their Events' hashes and their clocks name
    rows = UnitOfWork()
    for concern in concerns:
        rows.add(*concern_rows_build(concern, receipt=receipt_new(), notices=[]))
    rows.update(concerns, ["audit_seq", "audit_head"])
    rows.flush()
    return [c.pk for c in concerns]


def concerns_seed(
    *,
    unit: Organisation,
    count: int,
    now: datetime | None = None,
    raiser_kind: str = "staff",
    themes: Iterable[str] = ("patient_safety",),
) -> list[int]:
    """``count`` anonymous web concerns about ``unit``, received at ``now`` (to the hour, as intake
    keeps an anonymous raiser's time); their ids, in order."""
    now = now or timezone.now()
    ids: list[int] = []
    for start in range(0, count, CHUNK):
        with transaction.atomic():
            ids += _chunk(
                unit=unit, count=min(CHUNK, count - start), now=now, raiser_kind=raiser_kind, themes=sorted(set(themes))
            )
    return ids


def acknowledge_due(*, concern_ids: list[int], at: datetime) -> int:
    """Put the running acknowledge clocks of these concerns due at ``at``, as if the days had passed."""
    return Clock.objects.filter(concern_id__in=concern_ids, kind="acknowledge", status=ClockStatus.PENDING).update(
        due_at=at
    )
