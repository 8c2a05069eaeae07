"""Early-warning signals: opened by the nightly pass when a unit's weekly series crosses its
detector's threshold, reviewed and closed by those who watch the unit.

A signal is a pattern, not a case: it names a unit, a measure, a theme and counts, never a concern,
a raiser or a member of staff. Its lifecycle is the table in workflows.engine.signal_lifecycle, and
every move is a SignalChange (who, when, why). Opening is idempotent: one open signal per series and
kind (a unique index), so a pass run twice, or two passes at once, open it once and tell people once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from django.contrib.auth.models import AnonymousUser, User
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from backend.concerns import scope
from backend.concerns.notices import Directory, notices_send, signal_notices
from backend.config.db import UnitOfWork, rows_insert
from backend.errors import Conflict, Invalid, NotFound
from backend.oversight.models import Signal, SignalChange, SignalKind
from workflows.engine import signal_lifecycle


@dataclass(frozen=True)
class SignalFound:
    """What the nightly pass found for one series."""

    unit_id: int
    measure: str
    theme: str
    kind: str
    week: date
    baseline: float
    recent: float
    statistic: float
    threshold: float


def signals_open(*, found: Sequence[SignalFound], now: datetime) -> list[int]:
    """Open a signal for each series found, unless one of its kind is open already; tell each new
    one's unit's guardians and its trust's governors. In the caller's transaction (or its own);
    returns the ids opened now."""
    if not found:
        return []
    rows = [
        Signal(
            unit_id=f.unit_id,
            measure=f.measure,
            theme=f.theme,
            kind=f.kind,
            week=f.week,
            baseline=f.baseline,
            recent=f.recent,
            statistic=f.statistic,
            threshold=f.threshold,
            opened_at=now,
        )
        for f in found
    ]
    with transaction.atomic():
        # ON CONFLICT DO NOTHING against the one-open-per-series index: already open, nothing new.
        opened = [int(r[0]) for r in rows_insert(rows, on_conflict="skip", returning=["id"])]
        if not opened:
            return []
        signals = list(Signal.objects.filter(pk__in=opened).select_related("unit"))
        work = UnitOfWork()
        work.add(*(SignalChange(signal=s, to_state=s.state, at=now) for s in signals))
        work.flush()
        directory = Directory.for_organisations({s.unit for s in signals})
        for s in signals:
            label = f"{SignalKind(s.kind).label.lower()}: {s.get_measure_display().lower()}"
            notices_send(signal_notices(directory=directory, signal_id=s.pk, unit=s.unit, label=label), now=now)
    return opened


def signals_watched(*, user: User | AnonymousUser) -> QuerySet[Signal]:
    """The signals of the units the user watches (scope.units_watched_q), newest first."""
    return Signal.objects.filter(scope.units_watched_q(user=user)).select_related("unit").order_by("-opened_at", "-pk")


def _locked(*, signal_id: int, user: User) -> Signal:
    signal = Signal.objects.select_for_update().filter(pk=signal_id).first()
    if signal is None or not signals_watched(user=user).filter(pk=signal_id).exists():
        # The same answer for a signal elsewhere as for none: its existence says something.
        raise NotFound("No such signal.")
    return signal


def _move(signal: Signal, *, name: str, user: User, now: datetime, reason: str = "") -> Signal:
    try:
        target = signal_lifecycle.check(name=name, state=signal.state)
    except signal_lifecycle.IllegalSignalMove as refused:
        raise Conflict(str(refused)) from refused
    SignalChange.objects.create(
        signal=signal, from_state=signal.state, to_state=target, actor=user, at=now, reason=reason
    )
    signal.state = target
    fields = ["state"]
    if target == signal_lifecycle.CLOSED:
        signal.closed_at, signal.closed_reason = now, reason
        fields += ["closed_at", "closed_reason"]
    signal.save(update_fields=fields)
    return signal


@transaction.atomic
def signal_review(*, signal_id: int, user: User, now: datetime | None = None) -> Signal:
    """Someone who watches the unit takes the signal up: under review."""
    return _move(_locked(signal_id=signal_id, user=user), name="review", user=user, now=now or timezone.now())


@transaction.atomic
def signal_close(*, signal_id: int, user: User, reason: str, now: datetime | None = None) -> Signal:
    """Closed, saying why (looked into and explained, acted on, a known event): audited."""
    if not reason.strip():
        raise Invalid("closing a signal needs a reason")
    signal = _locked(signal_id=signal_id, user=user)
    return _move(signal, name="close", user=user, now=now or timezone.now(), reason=reason.strip()[:500])
