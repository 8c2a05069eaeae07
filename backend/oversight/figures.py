"""Oversight figures, pre-aggregated: deltas written beside each change, folded every 30 seconds.

Writing. The figure deltas follow from the Events a unit of work flushes (``figure_deltas``, the
handler OversightConfig.ready registers: in intake's one statement, a person's move, a sweep batch),
and ``figures_record`` adds those of an alert opened or resolved, in the same transaction. It reads the
Events just written, replays the concern's earlier ones (a handful of rows) to know what they mean
now, and appends FigureDelta rows. Raising a concern costs one INSERT and no read, so concurrent
intakes never queue on a shared counter row.

Folding. ``figures_rollup`` (a beat task) holds the FiguresRollup row lock, folds pending deltas into
OrganisationQuarterFigures and OversightTally in batches, and deletes exactly the rows it folded (a
delta committed late, with a lower id, is folded next time, never lost).

Reading. Selectors read the folded tables only, never pending deltas: one indexed query whatever the
volume, one consistent snapshot, and no race with a fold that is deleting the deltas a reader is
adding up. The price is up to one rollup interval (30 s) of lag, which is the same as the clock
sweep's own: a breach is not on the dashboard any sooner than the sweep finds it anyway.

What the figures mean (the definitions the tests hold them to):
- Public, per organisation and quarter received. The organisation is the trust the concern is about:
  the nearest provider on the unit's path (the unit itself if it is one), else the top of the path.
  received; acknowledged in time (of those acknowledged or whose acknowledge deadline passed first:
  in time if the first acknowledgement came by the deadline of the acknowledge clock then running,
  pauses counted out); median whole days from receipt to first acknowledgement (a histogram, last
  bucket ACK_DAYS_TOP or more); feedback in time (of those given feedback, whose feedback deadline
  passed first, or closed without feedback); escalated at least once; closed without feedback (of
  those closed).
- The quarterly speaking-up data return, per organisation and quarter received, counted as the
  public figures count (the trust the concern was raised about, the quarter it was received in):
  cases; raised anonymously; each theme (a concern with two themes counts under both); detriment
  indicated (once, however often reported); by professional group (none recorded: "not known");
  would speak up again, by answer. The raised Event says the themes, the group and whether it was
  anonymous; a guardian's correction (reclassified) or the placing of a text (placed) takes -1 from
  what it was and adds +1 to what it is, so the counts move and stay in the quarter received.
- Dashboard, per unit the concern is about and body holding it now: open escalations (concerns in
  state escalated); overdue clocks (breached clocks on open concerns still where they breached, until
  answered: acknowledging answers an acknowledge breach, feedback answers feedback and acknowledge,
  any recorded activity answers inactivity); open alerts (counted against Alert.organisation).
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple, TypeVar

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from backend.concerns.models import Clock, Concern, Event, SpeakUpAgain
from backend.config.db import IdsIn, UnitOfWork, snapshot_isolation
from backend.organisations.models import Organisation, OrganisationKind
from backend.oversight.models import (
    RETURN_MEASURES,
    WEEKLY_MEASURES,
    Alert,
    FigureDelta,
    FiguresRollup,
    Measure,
    OrganisationQuarterFigures,
    OversightTally,
    ReturnCount,
    WeeklyCount,
)
from workflows.engine.lifecycle import State
from workflows.engine.policy import ClockKind
from workflows.engine.vocabulary import EventKind, ProfessionalGroup, Theme

logger = logging.getLogger(__name__)

ACK_DAYS_TOP = 90  # the histogram's last bucket holds this many whole days or more
ROLLUP_BATCH = 5000
REBUILD_CHUNK = 2000

# Events that change a figure or a concern's story; anything else (identity_viewed, pauses...) is ignored.
# Recorded activity by those handling a concern: it answers an inactivity breach.
ACTIVITY_KINDS: frozenset[str] = frozenset(
    {
        EventKind.ACKNOWLEDGE,
        EventKind.START_REVIEW,
        EventKind.GIVE_FEEDBACK,
        EventKind.CLOSE,
        EventKind.WITHDRAW,
        EventKind.REOPEN,
        EventKind.ASSIGNED,
        EventKind.MESSAGE_TO_RAISER,
    }
)
STORY_KINDS: frozenset[str] = ACTIVITY_KINDS | {
    EventKind.RAISED,
    EventKind.PLACED,
    EventKind.ESCALATE,
    EventKind.CLOCK_BREACHED,
    # Counted by week for early warning.
    EventKind.DETRIMENT_REPORTED,
    EventKind.NOTHING_DONE_REPORTED,
    EventKind.SPEAK_UP_AGAIN_ANSWERED,
    # What the quarterly return counts a concern under, corrected by its guardian.
    EventKind.RECLASSIFIED,
}
# The themes of the vocabulary, by the bucket their weekly count is kept in (0: every theme).
THEME_BUCKETS: dict[str, int] = {theme.value: n for n, theme in enumerate(Theme, start=1)}
BUCKET_THEMES: dict[int, str] = {n: theme for theme, n in THEME_BUCKETS.items()} | {0: ""}
# The return's keys by the bucket a pending delta keeps them in (the vocabularies' order: their words
# are appended, never reordered, so a delta written before a release folds under the same key after).
GROUP_BUCKETS: dict[str, int] = {group.value: n for n, group in enumerate(ProfessionalGroup, start=1)}
ANSWER_BUCKETS: dict[str, int] = {answer.value: n for n, answer in enumerate(SpeakUpAgain, start=1)}
RETURN_KEYS: dict[str, dict[int, str]] = {
    Measure.RETURN_THEME: BUCKET_THEMES,
    Measure.RETURN_GROUP: {n: group for group, n in GROUP_BUCKETS.items()},
    Measure.RETURN_SPEAK_UP: {n: answer for answer, n in ANSWER_BUCKETS.items()},
}

PUBLIC_FIELDS = (
    Measure.RECEIVED,
    Measure.ACK_DECIDED,
    Measure.ACK_IN_TIME,
    Measure.FEEDBACK_DECIDED,
    Measure.FEEDBACK_IN_TIME,
    Measure.ESCALATED,
    Measure.CLOSED,
    Measure.CLOSED_WITHOUT_FEEDBACK,
)
TALLY_FIELDS = (Measure.OPEN_ESCALATIONS, Measure.OVERDUE_CLOCKS, Measure.OPEN_ALERTS)

# A clock whose outcome the public figures count: decided (answered, breached or closed without an
# answer), and of those, answered in time.
_DECIDED: dict[str, tuple[str, str]] = {
    ClockKind.ACKNOWLEDGE: (Measure.ACK_DECIDED, Measure.ACK_IN_TIME),
    ClockKind.FEEDBACK: (Measure.FEEDBACK_DECIDED, Measure.FEEDBACK_IN_TIME),
}

# (unit, holder or None, quarter or None, measure, bucket) -> change
Key = tuple[int, int | None, date | None, str, int]


def week_of(moment: datetime) -> date:
    """Monday of the week, in local time: the early-warning series count by week."""
    day = timezone.localtime(moment).date()
    return day - timedelta(days=day.weekday())


def quarter_of(moment: datetime) -> date:
    """First day of the (calendar) quarter, in local time: what a patient group would call it."""
    day = timezone.localtime(moment).date()
    return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def days_bucket(*, received_at: datetime, acknowledged_at: datetime) -> int:
    return max(0, min(ACK_DAYS_TOP, (acknowledged_at - received_at) // timedelta(days=1)))


def histogram_median(counts: Sequence[int]) -> float | None:
    """The median of a histogram of whole days: the middle value, or the mean of the middle two."""
    total = sum(counts)
    if total == 0:
        return None
    wanted = [(total + 1) // 2, total // 2 + 1]  # 1-based ranks; the same rank twice when total is odd
    found: list[int] = []
    seen = 0
    for value, count in enumerate(counts):
        seen += count
        while wanted and wanted[0] <= seen:
            wanted.pop(0)
            found.append(value)
        if not wanted:
            break
    return (found[0] + found[1]) / 2


class _E(NamedTuple):
    """An Event as the figures see it (from a saved row or an in-memory one)."""

    concern_id: int
    seq: int
    kind: str
    from_state: str
    to_state: str
    data: dict[str, Any]
    created_at: datetime


_E_FIELDS = ("concern_id", "seq", "kind", "from_state", "to_state", "data", "created_at")


class _ClockRow(NamedTuple):
    kind: str
    started_at: datetime
    pk: int
    due_at: datetime
    paused_at: datetime | None


class _Context:
    """Lookups the replay needs: organisation ids by code, deadlines for the in-time checks, and the
    bodies of a concern's open alerts (moved with it when it is placed on another unit)."""

    def __init__(
        self,
        *,
        org_ids: dict[str, int],
        clocks: dict[int, list[_ClockRow]],
        open_alerts: dict[int, list[int]] | None = None,
    ) -> None:
        self.org_ids, self.clocks, self.open_alerts = org_ids, clocks, open_alerts or {}

    def in_time(self, event: _E, kind: str) -> bool:
        """By the deadline of the clock of this kind running when the event happened (none: in time)."""
        running = [
            c for c in self.clocks.get(event.concern_id, []) if c.kind == kind and c.started_at <= event.created_at
        ]
        if not running:
            return True
        clock = max(running, key=lambda c: (c.started_at, c.pk))
        due = clock.due_at
        if clock.paused_at is not None and clock.paused_at <= event.created_at:
            # Still paused at the time: the deadline has moved by the pause so far.
            due += event.created_at - clock.paused_at
        return event.created_at <= due


class _Story:
    """What one concern's events so far mean for the figures. Replayed in seq order; ``out`` None
    replays history for state only, otherwise the changes are added to it."""

    def __init__(self, *, concern_id: int, unit_id: int, received_at: datetime) -> None:
        # unit_id: the concern's unit now; replaying "raised" and "placed" moves it to the unit then.
        self.concern_id, self.unit_id, self.received_at = concern_id, unit_id, received_at
        self.quarter = quarter_of(received_at)
        self.holder_id = unit_id
        self.state = State.RECEIVED.value
        self.answered: set[str] = set()  # acknowledged, fed back
        self.decided: set[str] = set()  # clocks whose outcome counts in the public figures
        self.escalated = False
        # A detriment case reported after a concern closed (its raised event names that concern): it
        # is the same raiser's same concern, so it counts in no public, weekly or return figure; the
        # report itself counts as detriment on the concern it follows. Counted as a concern received,
        # it would inflate "received" and show its unit a rise in concerns that is one raiser's harm.
        self.follows_closed = False
        self.overdue: set[str] = set()  # clock kinds breached at this level and not yet answered
        # What the quarterly return counts it under, against the unit it was raised about (a later
        # placement moves the dashboard's counts, never the quarter's return, as with "received").
        self.return_unit = unit_id
        self.themes: set[str] = set()
        self.group = ""
        self.detriment = False
        self.answer = ""

    def _public(self, out: Counter[Key] | None, measure: str, bucket: int = 0) -> None:
        if out is not None and not self.follows_closed:
            out[(self.unit_id, None, self.quarter, measure, bucket)] += 1

    def _weekly(self, out: Counter[Key] | None, measure: str, at: datetime, bucket: int = 0) -> None:
        if out is not None and not self.follows_closed:
            out[(self.unit_id, None, week_of(at), measure, bucket)] += 1

    def _return(self, out: Counter[Key] | None, measure: str, change: int = 1, bucket: int = 0) -> None:
        if out is not None and not self.follows_closed:
            out[(self.return_unit, None, self.quarter, measure, bucket)] += change

    def _return_themes(self, out: Counter[Key] | None, themes: Iterable[str]) -> None:
        """The themes counted now: -1 under each dropped, +1 under each added (a concern with two
        themes counts under both)."""
        known = {t for t in themes if t in THEME_BUCKETS}
        for theme in sorted(self.themes - known):
            self._return(out, Measure.RETURN_THEME, -1, THEME_BUCKETS[theme])
        for theme in sorted(known - self.themes):
            self._return(out, Measure.RETURN_THEME, 1, THEME_BUCKETS[theme])
        self.themes = known

    def _return_group(self, out: Counter[Key] | None, group: str) -> None:
        """The professional group counted now; none recorded (or a word no longer known) is "not known"."""
        group = group if group in GROUP_BUCKETS else ProfessionalGroup.NOT_KNOWN.value
        if group == self.group:
            return
        if self.group:
            self._return(out, Measure.RETURN_GROUP, -1, GROUP_BUCKETS[self.group])
        self._return(out, Measure.RETURN_GROUP, 1, GROUP_BUCKETS[group])
        self.group = group

    def _tally(self, out: Counter[Key] | None, measure: str, change: int, holder: int | None = None) -> None:
        if out is not None and change:
            out[(self.unit_id, holder or self.holder_id, None, measure, 0)] += change

    def _move_unit(self, e: _E, ctx: _Context, out: Counter[Key] | None) -> None:
        """Placed on another unit: what the dashboard counts for the concern moves with it."""
        target = ctx.org_ids.get(str(e.data.get("to", "")))
        if target is None or target == self.unit_id:
            return
        moving = [(Measure.OVERDUE_CLOCKS, len(self.overdue), self.holder_id)]
        if self.state == State.ESCALATED:
            moving.append((Measure.OPEN_ESCALATIONS, 1, self.holder_id))
        if out is not None:
            moving += [(Measure.OPEN_ALERTS, 1, body) for body in ctx.open_alerts.get(self.concern_id, [])]
        for measure, change, holder in moving:
            self._tally(out, measure, -change, holder)
        self.unit_id = target
        for measure, change, holder in moving:
            self._tally(out, measure, change, holder)

    def _answer(self, out: Counter[Key] | None, kind: str) -> None:
        if kind in self.overdue:
            self.overdue.discard(kind)
            self._tally(out, Measure.OVERDUE_CLOCKS, -1)

    def _leave_level(self, out: Counter[Key] | None) -> None:
        self._tally(out, Measure.OVERDUE_CLOCKS, -len(self.overdue))
        self.overdue.clear()

    def apply(self, e: _E, ctx: _Context, out: Counter[Key] | None) -> None:
        if e.kind != EventKind.ESCALATE and e.from_state == State.ESCALATED and e.to_state not in ("", State.ESCALATED):
            self._tally(out, Measure.OPEN_ESCALATIONS, -1)
        handler = _STORY.get(e.kind)
        if handler is not None:
            handler(self, e, ctx, out)
        if e.kind in ACTIVITY_KINDS:
            self._answer(out, ClockKind.INACTIVITY)
        if e.to_state:
            self.state = e.to_state

    def raised(self, e: _E, ctx: _Context, out: Counter[Key] | None) -> None:
        # The unit it was raised about (known by code when replaying history; at intake it is the
        # concern's own unit, and no look-up is needed).
        self.follows_closed = "detriment_of" in e.data
        self.unit_id = ctx.org_ids.get(str(e.data.get("unit", "")), self.unit_id)
        self.return_unit = self.unit_id
        self._public(out, Measure.RECEIVED)
        self._return(out, Measure.RETURN_CASES)
        if e.data.get("anonymous"):
            self._return(out, Measure.RETURN_ANONYMOUS)
        self._return_themes(out, e.data.get("themes", ()))
        self._return_group(out, str(e.data.get("group", "")))
        self._weekly(out, Measure.WEEK_RECEIVED, self.received_at)
        for theme in e.data.get("themes", ()):
            if theme in THEME_BUCKETS:
                self._weekly(out, Measure.WEEK_RECEIVED, self.received_at, THEME_BUCKETS[theme])

    def placed(self, e: _E, ctx: _Context, out: Counter[Key] | None) -> None:
        self._move_unit(e, ctx, out)
        if "themes" in e.data:  # a text placed by its guardian: what it is about, said at last
            self._return_themes(out, e.data["themes"])

    def reclassified(self, e: _E, ctx: _Context, out: Counter[Key] | None) -> None:
        if "themes" in e.data:
            self._return_themes(out, e.data["themes"])
        if "group" in e.data:
            self._return_group(out, str(e.data["group"]))

    def escalated_to(self, e: _E, ctx: _Context, out: Counter[Key] | None) -> None:
        self._leave_level(out)
        if e.from_state == State.ESCALATED:
            self._tally(out, Measure.OPEN_ESCALATIONS, -1)
        self.holder_id = ctx.org_ids[str(e.data["to"])]
        self._tally(out, Measure.OPEN_ESCALATIONS, 1)
        if not self.escalated:
            self.escalated = True
            self._public(out, Measure.ESCALATED)

    def breached(self, e: _E, ctx: _Context, out: Counter[Key] | None) -> None:
        clock = str(e.data.get("clock", ""))
        if clock not in self.overdue:
            self.overdue.add(clock)
            self._tally(out, Measure.OVERDUE_CLOCKS, 1)
        if clock in _DECIDED and clock not in self.answered:
            self._decide(out, ClockKind(clock), at=e.created_at)

    def _decide(
        self,
        out: Counter[Key] | None,
        kind: ClockKind,
        by: _E | None = None,
        ctx: _Context | None = None,
        *,
        at: datetime | None = None,
    ) -> None:
        """The first time a clock's outcome is known (answered, breached, or closed without an
        answer) it counts as decided, once; in time only if answered (``by``) by its deadline. An
        acknowledgement decided is counted in the week it was decided (``by``'s, or ``at``), and
        late unless answered in time."""
        if kind in self.decided:
            return
        self.decided.add(kind)
        decided, in_time = _DECIDED[kind]
        self._public(out, decided)
        on_time = by is not None and ctx is not None and out is not None and ctx.in_time(by, kind)
        if on_time:
            self._public(out, in_time)
        when = by.created_at if by is not None else at
        if kind == ClockKind.ACKNOWLEDGE and when is not None:
            self._weekly(out, Measure.WEEK_ACK_DECIDED, when)
            if not on_time:
                self._weekly(out, Measure.WEEK_ACK_LATE, when)

    def acknowledged_by(self, e: _E, ctx: _Context, out: Counter[Key] | None) -> None:
        self._answer(out, ClockKind.ACKNOWLEDGE)
        if ClockKind.ACKNOWLEDGE in self.answered:
            return
        self.answered.add(ClockKind.ACKNOWLEDGE)
        self._public(out, Measure.ACK_DAYS, days_bucket(received_at=self.received_at, acknowledged_at=e.created_at))
        self._decide(out, ClockKind.ACKNOWLEDGE, e, ctx)

    def fed_back_by(self, e: _E, ctx: _Context, out: Counter[Key] | None) -> None:
        self._answer(out, ClockKind.ACKNOWLEDGE)
        self._answer(out, ClockKind.FEEDBACK)
        if ClockKind.FEEDBACK in self.answered:
            return
        self.answered.add(ClockKind.FEEDBACK)
        self._decide(out, ClockKind.FEEDBACK, e, ctx)

    def withdrawn(self, e: _E, ctx: _Context, out: Counter[Key] | None) -> None:
        self._leave_level(out)

    def closed(self, e: _E, ctx: _Context, out: Counter[Key] | None) -> None:
        self._leave_level(out)
        self._public(out, Measure.CLOSED)
        self._weekly(out, Measure.WEEK_CLOSED, e.created_at)
        if ClockKind.FEEDBACK not in self.answered:
            self._public(out, Measure.CLOSED_WITHOUT_FEEDBACK)
            self._weekly(out, Measure.WEEK_CLOSED_WITHOUT_FEEDBACK, e.created_at)
        self._decide(out, ClockKind.FEEDBACK)

    def detriment_reported(self, e: _E, ctx: _Context, out: Counter[Key] | None) -> None:
        self._weekly(out, Measure.WEEK_DETRIMENT, e.created_at)
        if not self.detriment:
            self.detriment = True
            self._return(out, Measure.RETURN_DETRIMENT)

    def nothing_done_reported(self, e: _E, ctx: _Context, out: Counter[Key] | None) -> None:
        self._weekly(out, Measure.WEEK_NOTHING_DONE, e.created_at)

    def speak_up_answered(self, e: _E, ctx: _Context, out: Counter[Key] | None) -> None:
        self._weekly(out, Measure.WEEK_SPEAK_UP_ANSWERED, e.created_at)
        if e.data.get("answer") == "no":
            self._weekly(out, Measure.WEEK_WOULD_NOT_SPEAK_UP, e.created_at)
        answer = str(e.data.get("answer", ""))
        if answer in ANSWER_BUCKETS and answer != self.answer:
            if self.answer:
                self._return(out, Measure.RETURN_SPEAK_UP, -1, ANSWER_BUCKETS[self.answer])
            self._return(out, Measure.RETURN_SPEAK_UP, 1, ANSWER_BUCKETS[answer])
            self.answer = answer


# What each kind of Event means for the figures (kinds not here change no figure but, if they are
# activity, the inactivity breach they answer).
_STORY: dict[str, Callable[[_Story, _E, _Context, Counter[Key] | None], None]] = {
    EventKind.RAISED: _Story.raised,
    EventKind.PLACED: _Story.placed,
    EventKind.ESCALATE: _Story.escalated_to,
    EventKind.CLOCK_BREACHED: _Story.breached,
    EventKind.ACKNOWLEDGE: _Story.acknowledged_by,
    EventKind.GIVE_FEEDBACK: _Story.fed_back_by,
    EventKind.WITHDRAW: _Story.withdrawn,
    EventKind.CLOSE: _Story.closed,
    EventKind.DETRIMENT_REPORTED: _Story.detriment_reported,
    EventKind.NOTHING_DONE_REPORTED: _Story.nothing_done_reported,
    EventKind.SPEAK_UP_AGAIN_ANSWERED: _Story.speak_up_answered,
    EventKind.RECLASSIFIED: _Story.reclassified,
}


def _as_e(event: Event) -> _E:
    return _E(*(getattr(event, name) for name in _E_FIELDS))


def _org_ids(codes: set[str]) -> dict[str, int]:
    return dict(Organisation.objects.filter(code__in=codes).values_list("code", "pk")) if codes else {}


def _codes_named(events: Iterable[_E], *, with_raised: bool) -> set[str]:
    """Organisation codes the replay must turn into ids: escalation targets, placements, and (when
    replaying history) the unit each concern was raised about."""
    codes = {str(e.data["to"]) for e in events if e.kind in (EventKind.ESCALATE, EventKind.PLACED)}
    if with_raised:
        codes |= {str(e.data["unit"]) for e in events if e.kind == EventKind.RAISED and "unit" in e.data}
    return codes


def _clocks(concern_ids: Iterable[int]) -> dict[int, list[_ClockRow]]:
    ids = list(concern_ids)
    clocks: dict[int, list[_ClockRow]] = defaultdict(list)
    if ids:
        rows = Clock.objects.filter(
            IdsIn(F("concern_id"), ids), kind__in=[ClockKind.ACKNOWLEDGE, ClockKind.FEEDBACK]
        ).values_list("concern_id", "kind", "started_at", "pk", "due_at", "paused_at")
        for concern_id, kind, started_at, pk, due_at, paused_at in rows:
            clocks[concern_id].append(_ClockRow(kind, started_at, pk, due_at, paused_at))
    return clocks


def _open_alerts(concern_ids: set[int]) -> dict[int, list[int]]:
    bodies: dict[int, list[int]] = defaultdict(list)
    if concern_ids:
        rows = Alert.objects.filter(IdsIn(F("concern_id"), list(concern_ids)), resolved_at__isnull=True)
        for concern_id, organisation_id in rows.values_list("concern_id", "organisation_id"):
            bodies[concern_id].append(organisation_id)
    return bodies


def _concern_facts(events: Sequence[Event]) -> dict[int, tuple[int, datetime]]:
    """(unit, received_at) per concern: from the concern the event holds, else one query for the rest."""
    facts: dict[int, tuple[int, datetime]] = {}
    cached = Event._meta.get_field("concern")
    for e in events:
        if cached.is_cached(e):
            facts[e.concern_id] = (e.concern.unit_id, e.concern.received_at)
    missing = {e.concern_id for e in events} - facts.keys()
    if missing:
        for pk, unit_id, received_at in Concern.objects.filter(IdsIn(F("pk"), list(missing))).values_list(
            "pk", "unit_id", "received_at"
        ):
            facts[pk] = (unit_id, received_at)
    return facts


def _story_deltas(events: Sequence[Event], out: Counter[Key]) -> None:
    facts = _concern_facts(events)
    batch: dict[int, list[_E]] = defaultdict(list)
    for event in sorted(events, key=lambda ev: (ev.concern_id, ev.seq)):
        batch[event.concern_id].append(_as_e(event))
    # A concern whose first event is here (raised) has no history: intake reads nothing.
    first_seq = {cid: evs[0].seq for cid, evs in batch.items() if evs[0].seq > 1}
    history: dict[int, list[_E]] = defaultdict(list)
    if first_seq:
        rows = (
            Event.objects.filter(IdsIn(F("concern_id"), list(first_seq)), kind__in=STORY_KINDS)
            .order_by("concern_id", "seq")
            .values_list(*_E_FIELDS)
        )
        for row in rows:
            e = _E(*row)
            if e.seq < first_seq[e.concern_id]:
                history[e.concern_id].append(e)
    new = [e for evs in batch.values() for e in evs]
    codes = _codes_named([e for evs in history.values() for e in evs], with_raised=True)
    codes |= _codes_named(new, with_raised=False)
    timed = {e.concern_id for e in new if e.kind in (EventKind.ACKNOWLEDGE, EventKind.GIVE_FEEDBACK)}
    placed = {e.concern_id for e in new if e.kind == EventKind.PLACED}
    ctx = _Context(org_ids=_org_ids(codes), clocks=_clocks(timed), open_alerts=_open_alerts(placed))
    for concern_id, evs in batch.items():
        unit_id, received_at = facts[concern_id]
        story = _Story(concern_id=concern_id, unit_id=unit_id, received_at=received_at)
        for e in history[concern_id]:
            story.apply(e, ctx, None)
        for e in evs:
            story.apply(e, ctx, out)


def _alert_units(alerts: Sequence[Alert]) -> dict[int, int]:
    cached = Alert._meta.get_field("concern")
    units = {a.concern_id: a.concern.unit_id for a in alerts if cached.is_cached(a)}
    missing = {a.concern_id for a in alerts} - units.keys()
    if missing:
        units.update(Concern.objects.filter(pk__in=missing).values_list("pk", "unit_id"))
    return units


def _rows(out: Counter[Key]) -> list[FigureDelta]:
    return [
        FigureDelta(unit_id=unit, holder_id=holder, quarter=quarter, measure=measure, bucket=bucket, value=value)
        for (unit, holder, quarter, measure, bucket), value in out.items()
        if value
    ]


def figure_deltas(events: Sequence[Event]) -> list[FigureDelta]:
    """The unsaved figure changes these Events cause, for a caller that writes them with its own rows
    in one statement (intake). A raised concern's first Event, holding its concern, needs no query."""
    out: Counter[Key] = Counter()
    relevant = [e for e in events if e.kind in STORY_KINDS]
    if relevant:
        _story_deltas(relevant, out)
    return _rows(out)


def figures_record(
    *,
    events: Sequence[Event] = (),
    alerts_opened: Sequence[Alert] = (),
    alerts_resolved: Sequence[Alert] = (),
) -> int:
    """Append the figure changes that these just-written Events and alerts cause; returns the number
    of delta rows. Call it inside the transaction that wrote them, after they are written (their
    concern is locked by the caller). Events of kinds that change no figure are ignored, so passing
    every Event written is safe; passing one twice would count it twice."""
    rows = figure_deltas(events)
    if alerts_opened or alerts_resolved:
        out: Counter[Key] = Counter()
        units = _alert_units([*alerts_opened, *alerts_resolved])
        for alerts, change in ((alerts_opened, 1), (alerts_resolved, -1)):
            for alert in alerts:
                out[(units[alert.concern_id], alert.organisation_id, None, Measure.OPEN_ALERTS, 0)] += change
        rows += _rows(out)
    work = UnitOfWork()
    work.add(*rows)
    work.flush()
    return len(rows)


def _reporting_organisations(unit_ids: set[int]) -> dict[int, int]:
    """Unit -> the organisation its public figures count under: the nearest provider on its path
    (itself if it is one), else the top of its path."""
    paths = dict(Organisation.objects.filter(pk__in=unit_ids).values_list("pk", "path"))
    codes = {code for path in paths.values() for code in path.strip("/").split("/")}
    orgs = {
        code: (pk, kind)
        for pk, code, kind in Organisation.objects.filter(code__in=codes).values_list("pk", "code", "kind")
    }
    chosen: dict[int, int] = {}
    for unit, path in paths.items():
        chain = path.strip("/").split("/")
        providers = [orgs[c][0] for c in reversed(chain) if orgs[c][1] == OrganisationKind.PROVIDER]
        chosen[unit] = providers[0] if providers else orgs[chain[0]][0]
    return chosen


def _fold(changes: Iterable[tuple[Key, int]]) -> None:
    """Add summed changes to the folded tables. The caller holds the FiguresRollup lock: nobody else
    writes these tables, so plain reads and bulk writes are safe."""
    public: dict[tuple[int, date], Counter[str]] = defaultdict(Counter)
    days: dict[tuple[int, date], Counter[int]] = defaultdict(Counter)
    tally: dict[tuple[int, int], Counter[str]] = defaultdict(Counter)
    weekly: Counter[tuple[int, str, str, date]] = Counter()
    returns: Counter[tuple[int, date, str, str]] = Counter()
    pending_public: list[tuple[Key, int]] = []
    for key, value in changes:
        unit, holder, quarter, measure, bucket = key
        if measure in WEEKLY_MEASURES:
            assert quarter is not None  # the week
            weekly[(unit, measure, BUCKET_THEMES[bucket], quarter)] += value
        elif quarter is not None:
            pending_public.append((key, value))
        elif holder is not None:
            tally[(unit, holder)][measure] += value
    if pending_public:
        reporting = _reporting_organisations({key[0] for key, _ in pending_public})
        for (unit, _, quarter, measure, bucket), value in pending_public:
            assert quarter is not None
            where = (reporting[unit], quarter)
            if measure in RETURN_MEASURES:
                returns[(*where, measure, RETURN_KEYS.get(measure, {}).get(bucket, ""))] += value
            elif measure == Measure.ACK_DAYS:
                days[where][bucket] += value
                public[where][Measure.ACK_DAYS] += value
            else:
                public[where][measure] += value
    if public:
        _fold_public(public, days)
    if returns:
        _fold_counts(ReturnCount, ("organisation_id", "quarter", "measure", "key"), returns)
    if tally:
        _fold_tally(tally)
    if weekly:
        _fold_counts(WeeklyCount, ("unit_id", "measure", "theme", "week"), weekly)


def _fold_public(public: dict[tuple[int, date], Counter[str]], days: dict[tuple[int, date], Counter[int]]) -> None:
    """New totals computed here, written with one INSERT ... ON CONFLICT DO UPDATE per 500 rows (bulk
    updates of many rows and fields are far slower to build)."""
    orgs, quarters = {o for o, _ in public}, {q for _, q in public}
    existing = {
        (f.organisation_id, f.quarter): f
        for f in OrganisationQuarterFigures.objects.filter(organisation_id__in=orgs, quarter__in=quarters)
    }
    rows = []
    for key, counts in public.items():
        before = existing.get(key)
        figures = OrganisationQuarterFigures(organisation_id=key[0], quarter=key[1], ack_days=[])
        for measure in PUBLIC_FIELDS:
            setattr(figures, measure, (getattr(before, measure) if before else 0) + counts[measure])
        histogram = list(before.ack_days) if before else []
        histogram += [0] * (ACK_DAYS_TOP + 1 - len(histogram))
        for bucket, value in days.get(key, {}).items():
            histogram[bucket] += value
        figures.ack_days = histogram
        figures.acknowledged = (before.acknowledged if before else 0) + counts[Measure.ACK_DAYS]
        figures.median_days_to_acknowledge = histogram_median(histogram)
        rows.append(figures)
    OrganisationQuarterFigures.objects.bulk_create(
        rows,
        batch_size=500,
        update_conflicts=True,
        unique_fields=["organisation", "quarter"],
        update_fields=[*PUBLIC_FIELDS, "acknowledged", "ack_days", "median_days_to_acknowledge"],
    )


# The folded tables whose rows are counts under a key: a value added to, never recomputed.
_Counted = TypeVar("_Counted", ReturnCount, WeeklyCount)


def _fold_counts(model: type[_Counted], key_fields: tuple[str, ...], changes: Counter[tuple[Any, ...]]) -> None:
    """Add each change to the ``value`` of the row of ``model`` its key names (``key_fields``, in the
    key's order), creating the rows not there yet, with one INSERT ... ON CONFLICT DO UPDATE per 500."""
    existing = {
        tuple(row[:-1]): row[-1]
        for row in model._default_manager.filter(
            **{f"{field}__in": {key[n] for key in changes} for n, field in enumerate(key_fields)}
        ).values_list(*key_fields, "value")
    }
    rows = [
        model(**dict(zip(key_fields, key, strict=True)), value=existing.get(key, 0) + change)
        for key, change in changes.items()
    ]
    model._default_manager.bulk_create(
        rows,
        batch_size=500,
        update_conflicts=True,
        unique_fields=[field.removesuffix("_id") for field in key_fields],
        update_fields=["value"],
    )


def _fold_tally(tally: dict[tuple[int, int], Counter[str]]) -> None:
    units, holders = {u for u, _ in tally}, {h for _, h in tally}
    existing = {
        (t.unit_id, t.holder_id): t for t in OversightTally.objects.filter(unit_id__in=units, holder_id__in=holders)
    }
    rows = []
    for key, counts in tally.items():
        before = existing.get(key)
        row = OversightTally(unit_id=key[0], holder_id=key[1])
        for measure in TALLY_FIELDS:
            setattr(row, measure, (getattr(before, measure) if before else 0) + counts[measure])
        rows.append(row)
    OversightTally.objects.bulk_create(
        rows, batch_size=500, update_conflicts=True, unique_fields=["unit", "holder"], update_fields=list(TALLY_FIELDS)
    )


def _rollup_row() -> None:
    FiguresRollup.objects.get_or_create(pk=1)


def _rollup_batch(*, now: datetime, batch_size: int) -> int | None:
    """Fold one batch; None if another rollup holds the lock (it will fold these)."""
    with transaction.atomic():
        # SKIP LOCKED: a second beat, or a rollup overlapping a slow one, steps aside rather than queue.
        mark = FiguresRollup.objects.select_for_update(skip_locked=True).filter(pk=1).first()
        if mark is None:
            return None
        rows = list(
            FigureDelta.objects.order_by("pk").values_list(
                "pk", "unit_id", "holder_id", "quarter", "measure", "bucket", "value"
            )[:batch_size]
        )
        if rows:
            summed: Counter[Key] = Counter()
            for _, unit, holder, quarter, measure, bucket, value in rows:
                summed[(unit, holder, quarter, measure, bucket)] += value
            _fold(summed.items())
            # Exactly the rows folded: one committed since, with a lower id, stays for next time.
            FigureDelta.objects.filter(pk__in=[r[0] for r in rows]).delete()
        mark.rolled_at = now
        mark.folded += len(rows)
        mark.save(update_fields=["rolled_at", "folded"])
        return len(rows)


def figures_rollup(*, now: datetime | None = None, batch_size: int = ROLLUP_BATCH) -> int:
    """Fold every pending delta into the figures, a batch per transaction; returns how many."""
    now = now or timezone.now()
    _rollup_row()
    total = 0
    while True:
        folded = _rollup_batch(now=now, batch_size=batch_size)
        if folded is None:
            break
        total += folded
        if folded < batch_size:
            break
    if total:
        logger.info("figures rollup folded=%s", total)
    return total


def _replay_chunk(concerns: list[tuple[int, int, datetime]], org_ids: dict[str, int], out: Counter[Key]) -> None:
    ids = [pk for pk, _, _ in concerns]
    events: dict[int, list[_E]] = defaultdict(list)
    rows = Event.objects.filter(concern_id__in=ids, kind__in=STORY_KINDS).order_by("concern_id", "seq")
    for row in rows.values_list(*_E_FIELDS):
        events[row[0]].append(_E(*row))
    ctx = _Context(org_ids=org_ids, clocks=_clocks(ids))
    for pk, unit_id, received_at in concerns:
        # Open alerts are added at the end against each concern's unit now, so placements move none.
        story = _Story(concern_id=pk, unit_id=unit_id, received_at=received_at)
        for e in events[pk]:
            story.apply(e, ctx, out)


def figures_rebuild(*, now: datetime | None = None, chunk: int = REBUILD_CHUNK) -> int:
    """Recompute every figure from the audit trail and the open alerts, replacing what is there: for
    concerns raised before figures were recorded, and to check the running figures. Returns the
    number of concerns replayed.

    Outside a transaction on PostgreSQL it reads one REPEATABLE READ snapshot: a change committed
    while it runs is not in the snapshot, and its own deltas (left in place) count it once. Fails
    fast if a rollup is folding; try again."""
    now = now or timezone.now()
    _rollup_row()
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost:
            snapshot_isolation()
        # NOWAIT: waiting for a rollup would leave this snapshot behind the rows it changes.
        mark = FiguresRollup.objects.select_for_update(nowait=True).get(pk=1)
        FigureDelta.objects.all().delete()
        OrganisationQuarterFigures.objects.all().delete()
        OversightTally.objects.all().delete()
        WeeklyCount.objects.all().delete()
        ReturnCount.objects.all().delete()
        out: Counter[Key] = Counter()
        org_ids = dict(Organisation.objects.values_list("code", "pk"))
        replayed, last = 0, 0
        while True:
            concerns = list(
                Concern.objects.filter(pk__gt=last).order_by("pk").values_list("pk", "unit_id", "received_at")[:chunk]
            )
            if not concerns:
                break
            _replay_chunk(concerns, org_ids, out)
            replayed += len(concerns)
            last = concerns[-1][0]
        for unit, holder in Alert.objects.filter(resolved_at__isnull=True).values_list(
            "concern__unit_id", "organisation_id"
        ):
            out[(unit, holder, None, Measure.OPEN_ALERTS, 0)] += 1
        _fold((key, value) for key, value in out.items() if value)
        mark.rolled_at = now
        mark.save(update_fields=["rolled_at"])
    logger.info("figures rebuilt concerns=%s", replayed)
    return replayed
