"""Early-warning signals: opened by the nightly pass when a unit's weekly series crosses its
detector's threshold, reviewed and closed by those who watch the unit.

A signal is a pattern, not a case: it names a unit, a measure, a theme and counts, never a concern,
a raiser or a member of staff. Its lifecycle is the table in workflows.engine.signal_lifecycle, and
every move is a SignalChange (who, when, why). Opening is idempotent: one open signal per series and
kind (a unique index), so a pass run twice, or two passes at once, open it once and tell people once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
from django.contrib.auth.models import AnonymousUser, User
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from numpy.typing import NDArray

from backend.concerns import scope
from backend.concerns.notices import Directory, notices_send, signal_notices
from backend.config.db import UnitOfWork, rows_insert
from backend.errors import Conflict, Invalid, NotFound
from backend.organisations.models import Organisation
from backend.oversight import trends
from backend.oversight.figures import week_of
from backend.oversight.models import Measure, Signal, SignalChange, SignalKind, WeeklyCount
from workflows.engine import early_warning, signal_lifecycle, spc

logger = logging.getLogger(__name__)


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
    return (
        Signal.objects.filter(scope.units_watched_q(user=user))
        .select_related("unit", "unit__parent")
        .order_by("-opened_at", "-pk")
    )


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


# The weeks each nightly pass reads: a year of baseline behind its guard band, and the weeks the
# detectors run over before the week judged (so a CUSUM has the run-up it would have had nightly).
WINDOW_WEEKS = early_warning.BASELINE_WEEKS + early_warning.GUARD_WEEKS + 44
# The weeks before tonight's whose alarms still open a signal (see signals_detect).
LOOK_BACK_WEEKS = 4


@dataclass(frozen=True)
class SignalsDetected:
    series: int
    opened: list[int]


def _series_rows(*, first: date, last: date) -> tuple[list[tuple[int, str]], dict[tuple[int, str], int]]:
    """Every (unit, theme) series with a concern in the window: all themes ("") and each theme."""
    keys = (
        WeeklyCount.objects.filter(measure=Measure.WEEK_RECEIVED, week__gte=first, week__lte=last)
        .values_list("unit_id", "theme")
        .distinct()
        .order_by("unit_id", "theme")
    )
    rows = list(keys)
    return rows, {key: i for i, key in enumerate(rows)}


def signals_detect(*, now: datetime | None = None) -> SignalsDetected:
    """The nightly pass: scan every unit's weekly series of concerns received (every theme together,
    and each theme) up to the last complete week, and open a signal where a detector alarms that week
    and is a discovery among the series of its trust (workflows.engine.early_warning). Reads the
    weekly counts only, streamed into one array (series x weeks: a few bytes a cell, never a row
    object per count). Idempotent: an open signal of a series is not opened again, so a second run,
    or two at once, open nothing new and tell nobody twice. The same pass judges every trust's
    monthly trends (the share who would not speak up again, and the rest: backend.oversight.trends)
    and opens a "worse than usual" signal on the trust when one shifts."""
    now = now or timezone.now()
    found, series = _weekly_found(now=now)
    found += _shifts_found(today=timezone.localdate(now))
    opened = signals_open(found=_not_yet_signalled(found), now=now)
    if opened:
        logger.info("signals opened=%s of %s series", len(opened), series)
    return SignalsDetected(series=series, opened=opened)


def _shifts_found(*, today: date) -> list[SignalFound]:
    """Each trust's trend that began a concerning special cause last month, as a signal on the trust:
    week is the month's first day; baseline the chart's mean, recent the month's value, threshold
    the upper process limit (for a share, in percentage points)."""
    return [
        SignalFound(
            unit_id=shift.organisation_id,
            measure=shift.measure,
            theme="",
            kind=SignalKind.SHIFT,
            week=shift.month,
            baseline=shift.onset.mean,
            recent=shift.onset.value,
            statistic=shift.onset.value,
            threshold=shift.onset.upper_limit,
        )
        for shift in trends.trend_shifts(today=today)
    ]


def _weekly_found(*, now: datetime) -> tuple[list[SignalFound], int]:
    """The weekly series' alarms that are discoveries, and how many series were read."""
    judged = week_of(now) - timedelta(weeks=1)  # the last complete week
    first = judged - timedelta(weeks=WINDOW_WEEKS - 1)
    rows, index = _series_rows(first=first, last=judged)
    if not rows:
        return [], 0
    counts = np.zeros((len(rows), WINDOW_WEEKS), dtype=np.int64)
    window = WeeklyCount.objects.filter(measure=Measure.WEEK_RECEIVED, week__gte=first, week__lte=judged)
    for unit_id, theme, week, value in window.values_list("unit_id", "theme", "week", "value").iterator(
        chunk_size=20_000
    ):
        counts[index[(unit_id, theme)], (week - first).days // 7] = value
    units = {
        pk: (kind, parent)
        for pk, kind, parent in Organisation.objects.filter(pk__in={u for u, _ in rows}).values_list(
            "pk", "kind", "parent_id"
        )
    }
    # Peers: the same theme on units of the same kind. A family for discovery control: the unit's
    # parent (a ward's trust), whose board reads its signals together.
    peers = _numbered([(units[u][0], theme) for u, theme in rows])
    family = _numbered([units[u][1] or u for u, _ in rows])
    # A series starts with its unit's first concern in the window (a theme's too: a ward that has
    # never had a bullying concern has a history of none, not no history).
    concerned = counts > 0
    started = np.where(concerned.any(axis=1), concerned.argmax(axis=1), WINDOW_WEEKS)
    unit_start = {unit_id: int(started[i]) for i, (unit_id, theme) in enumerate(rows) if theme == ""}
    first_week = np.array([unit_start.get(u, int(started[i])) for i, (u, _) in enumerate(rows)], dtype=np.int64)
    scan = early_warning.series_scan(counts=counts, first_week=first_week, peer_group=peers)
    recent = counts[:, -4:].mean(axis=1)
    found: dict[tuple[int, str], SignalFound] = {}
    # The last few weeks, not the last alone: a CUSUM restarts once it alarms, so a change that
    # alarmed on a night the pass did not run (or before the first run) is still seen. Each week's
    # alarms are discoveries among that week's tests of their family.
    for back in range(LOOK_BACK_WEEKS, 0, -1):
        column = WINDOW_WEEKS - back
        p = np.stack([scan.p_rise[:, column], scan.p_fall[:, column], scan.p_quiet[:, column]], axis=1)
        discovered = early_warning.discoveries(p_values=p, family=np.repeat(family[:, None], 3, axis=1))
        for d, (kind, alarms, statistic, threshold) in enumerate(
            (
                (SignalKind.RISE, scan.alarm_rise, scan.rise, scan.h_rise),
                (SignalKind.FALL, scan.alarm_fall, scan.fall, scan.h_fall),
                (SignalKind.QUIET, scan.alarm_quiet, scan.zero_run, scan.quiet_weeks),
            )
        ):
            for i in np.flatnonzero(discovered[:, d] & alarms[:, column]):
                unit_id, theme = rows[i]
                found.setdefault(
                    (int(i), kind),
                    SignalFound(
                        unit_id=unit_id,
                        measure=Measure.WEEK_RECEIVED,
                        theme=theme,
                        kind=kind,
                        week=first + timedelta(weeks=column),
                        baseline=float(scan.baseline[i, column]),
                        recent=float(recent[i]),
                        statistic=float(statistic[i, column]),
                        threshold=float(threshold[i, column]),
                    ),
                )
    return list(found.values()), len(rows)


def _not_yet_signalled(found: list[SignalFound]) -> list[SignalFound]:
    """Leave out an alarm whose series already has a signal of its kind from that week or later,
    open or closed: closing a signal must not see it opened again the next night for the same weeks."""
    if not found:
        return []
    earliest = min(f.week for f in found)
    had = set(
        Signal.objects.filter(unit_id__in={f.unit_id for f in found}, week__gte=earliest).values_list(
            "unit_id", "measure", "theme", "kind", "week"
        )
    )
    latest: dict[tuple[int, str, str, str], date] = {}
    for unit_id, measure, theme, kind, week in had:
        key = (unit_id, measure, theme, kind)
        latest[key] = max(week, latest.get(key, week))
    return [f for f in found if not (seen := latest.get((f.unit_id, f.measure, f.theme, f.kind))) or f.week > seen]


def _numbered(labels: Sequence[object]) -> NDArray[np.int64]:
    """Each label as a small integer, the same for equal labels."""
    numbers: dict[object, int] = {}
    return np.array([numbers.setdefault(label, len(numbers)) for label in labels], dtype=np.int64)


# The weeks a signal's page draws: a year, the picture a board reads.
CHART_WEEKS = 52


@dataclass(frozen=True)
class SignalSeries:
    """A signal's series as its page draws it: each week's count, the Making Data Count XmR chart of
    them, and the detector that opened the signal, week by week, with its threshold."""

    weeks: list[date]
    counts: list[int]
    xmr: spc.XmRChart
    detector: list[float]  # the rise CUSUM for a rise; the fall CUSUM for a fall or going quiet
    threshold: float


def signal_series(*, signal: Signal) -> SignalSeries:
    """Read the signal's series (its unit, measure and theme) up to the week it opened, and run the
    engine over it alone (its own history for the baseline: the page explains a signal, it does not
    judge one)."""
    last = signal.week
    first = last - timedelta(weeks=WINDOW_WEEKS - 1)
    counts = np.zeros((1, WINDOW_WEEKS), dtype=np.int64)
    rows = WeeklyCount.objects.filter(
        unit_id=signal.unit_id, measure=signal.measure, theme=signal.theme, week__gte=first, week__lte=last
    ).values_list("week", "value")
    for week, value in rows:
        counts[0, (week - first).days // 7] = value
    concerned = counts[0] > 0
    first_week = np.array([int(concerned.argmax()) if concerned.any() else 0], dtype=np.int64)
    scan = early_warning.series_scan(counts=counts, first_week=first_week)
    rising = signal.kind == SignalKind.RISE
    statistic = (scan.rise if rising else scan.fall)[0, -CHART_WEEKS:]
    threshold = float((scan.h_rise if rising else scan.h_fall)[0, -1])
    shown = counts[0, -CHART_WEEKS:]
    return SignalSeries(
        weeks=[first + timedelta(weeks=WINDOW_WEEKS - CHART_WEEKS + i) for i in range(CHART_WEEKS)],
        counts=[int(c) for c in shown],
        # More concerns is not of itself worse (more people may feel safe to speak): neither way is better.
        xmr=spc.xmr_chart(values=[float(c) for c in shown], improvement=spc.Improvement.NEUTRAL),
        detector=[float(v) for v in statistic],
        threshold=threshold,
    )


def signal_trend(*, signal: Signal) -> trends.Trend:
    """A "worse than usual" signal's trend, month by month up to the month that opened it: the chart
    its page draws (the trust's own, from the same weekly counts the nightly pass read)."""
    definition = next(t for t in trends.TRENDS if t.numerator == signal.measure)
    after = (signal.week + timedelta(days=32)).replace(day=1)
    found = trends.trends_of(organisation=signal.unit, today=after, last_month=signal.week)
    return next(t for t in found if t.definition == definition)


def signal_watched(*, user: User | AnonymousUser, signal_id: int) -> Signal:
    found = signals_watched(user=user).filter(pk=signal_id).first()
    if found is None:
        raise NotFound("No such signal.")
    return found
