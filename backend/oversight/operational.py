"""How Candour itself is doing, for the metrics scrape: cheap, indexed questions, counts and ages only.

Each runs at every scrape (every 15 to 60 seconds), so each reads an index's first entry or a
small indexed set, never a table."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Min

from backend.concerns.models import Clock, ClockStatus, Concern
from workflows.engine.lifecycle import State


def clock_lag_seconds(*, now: datetime) -> float:
    """How late the oldest due clock not yet fired is (0 when none is due): the sweep's lag. The
    first entry of the index clock_pending_due."""
    oldest = Clock.objects.filter(status=ClockStatus.PENDING, paused_at__isnull=True, due_at__lte=now).aggregate(
        oldest=Min("due_at")
    )["oldest"]
    return max((now - oldest).total_seconds(), 0.0) if oldest else 0.0


def oldest_unanswered_concern_age_seconds(*, now: datetime) -> float:
    """How long the oldest concern still waiting for its acknowledgement has waited (0 when none):
    the concerns in state received (the index concern_state)."""
    oldest = Concern.objects.filter(state=State.RECEIVED.value).aggregate(oldest=Min("received_at"))["oldest"]
    return max((now - oldest).total_seconds(), 0.0) if oldest else 0.0
