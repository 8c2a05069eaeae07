"""Reports for those who answer for speaking up: the guardian's quarterly board report for a trust and
the prescribed person's annual report (SI 2017/507). Read-only, counts only: no narrative, no name of
a raiser, a member of staff or (in the annual report) an employer. Every count is an aggregate in
SQL, or a pass over a few columns with ``.iterator(chunk_size=...)``: never a table in memory.

Quarters are calendar quarters, as the public figures count them (figures.quarter_of): "2026Q3" is
July to September 2026. The prescribed person's year runs from 1 April to 31 March.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Case, CharField, Count, Exists, Min, OuterRef, Q, Subquery, Value, When
from django.db.models.fields.json import KT
from django.utils import timezone

from backend.concerns import scope
from backend.concerns.models import Concern, ConcernAction, Event
from backend.errors import NotFound
from backend.organisations.models import Membership, Organisation, OrganisationKind, Role
from backend.oversight.models import Alert, OrganisationQuarterFigures
from backend.oversight.returns import QuarterlyReturn, quarter_name, quarterly_return
from backend.oversight.selectors import quarter_label
from backend.oversight.trends import organisation_watched
from workflows.engine.lifecycle import State
from workflows.engine.sidelining import LABELS, Rule
from workflows.engine.vocabulary import UPHELD, EventKind, Theme

# How many rows a streamed pass fetches at a time.
CHUNK = 2_000

_QUARTER = re.compile(r"^(\d{4})Q([1-4])$")


def quarter_parse_code(text: str) -> date | None:
    """ "2026Q3" -> 1 July 2026 (the quarter's first day); None for anything else."""
    match = _QUARTER.match(text)
    if match is None:
        return None
    year, number = int(match[1]), int(match[2])
    return date(year, 3 * (number - 1) + 1, 1) if 2000 <= year <= 2100 else None


def quarter_after(quarter: date) -> date:
    return date(quarter.year + 1, 1, 1) if quarter.month == 10 else date(quarter.year, quarter.month + 3, 1)


def quarter_before(quarter: date) -> date:
    return date(quarter.year - 1, 10, 1) if quarter.month == 1 else date(quarter.year, quarter.month - 3, 1)


def last_complete_quarter(today: date) -> date:
    return quarter_before(date(today.year, 3 * ((today.month - 1) // 3) + 1, 1))


def board_report_quarters(*, today: date, count: int = 4) -> list[tuple[str, str]]:
    """The last ``count`` complete quarters, newest first, as (code, words) for links."""
    quarters = [last_complete_quarter(today)]
    while len(quarters) < count:
        quarters.append(quarter_before(quarters[-1]))
    return [(quarter_name(q), quarter_label(q)) for q in quarters]


def _local_midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


# The guardian's board report ----------------------------------------------------------------------


@dataclass(frozen=True)
class ClockFigure:
    """A clock met in time: ``met`` of ``due`` (those whose deadline was decided in the quarter)."""

    met: int
    due: int

    @property
    def share(self) -> str:
        return f"{round(100 * self.met / self.due):.0f}%" if self.due else "none due"


@dataclass(frozen=True)
class AlertCount:
    rule: str  # the rule in words
    opened: int
    resolved: int

    @property
    def still_open(self) -> int:
        return self.opened - self.resolved


@dataclass(frozen=True)
class BoardReport:
    organisation: Organisation
    quarter: date
    quarter_code: str
    quarter_label: str
    complete: bool  # the quarter has ended; otherwise the figures are so far
    received: int
    acknowledged_in_time: ClockFigure
    feedback_in_time: ClockFigure
    closed: int
    closed_without_feedback: int
    escalations: list[tuple[str, int]]  # the body a concern went to (by name) and how many went
    alerts: list[AlertCount]  # by rule, in the vocabulary's order; rules with none are left out
    # The quarter's speaking-up data return as submitted (true numbers: the board is internal): the
    # themes, detriment, professional groups and "would you speak up again" answers.
    quarterly: QuarterlyReturn

    @property
    def escalated(self) -> int:
        return sum(n for _, n in self.escalations)

    @property
    def alerts_opened(self) -> int:
        return sum(a.opened for a in self.alerts)

    @property
    def alerts_resolved(self) -> int:
        return sum(a.resolved for a in self.alerts)

    @property
    def alerts_still_open(self) -> int:
        return self.alerts_opened - self.alerts_resolved


def trust_reported(*, user: User | AnonymousUser, code: str) -> Organisation:
    """A trust whose board report the user may read: its guardians and governors, and the
    commissioners of it (scope.units_watched_q says who watches what). NotFound otherwise, as for none."""
    organisation = organisation_watched(user=user, code=code)
    if organisation.kind != OrganisationKind.PROVIDER:
        raise NotFound("No such organisation.")
    return organisation


def board_report(*, user: User | AnonymousUser, code: str, quarter: date, now: datetime | None = None) -> BoardReport:
    """One trust's quarter for its board: the clocks met, escalations and sidelining alerts, by number,
    and its quarterly return (backend.oversight.returns, as submitted). Exact counts: the board is
    internal, so nothing is suppressed as the public figures are."""
    organisation = trust_reported(user=user, code=code)
    start, end = _local_midnight(quarter), _local_midnight(quarter_after(quarter))
    figures = OrganisationQuarterFigures.objects.filter(organisation=organisation, quarter=quarter).first()
    about = Q(concern__unit__path__startswith=organisation.path)
    escalations = (
        Event.objects.filter(about, kind=EventKind.ESCALATE, created_at__gte=start, created_at__lt=end)
        .annotate(to=KT("data__to"))
        .values("to")
        .annotate(n=Count("pk"))
        .order_by("to")
    )
    by_code = {row["to"]: row["n"] for row in escalations}
    names = dict(Organisation.objects.filter(code__in=list(by_code)).values_list("code", "name"))
    alerts = {
        row["rule"]: row
        for row in Alert.objects.filter(about, opened_at__gte=start, opened_at__lt=end)
        .values("rule")
        .annotate(opened=Count("pk"), resolved=Count("pk", filter=Q(resolved_at__isnull=False)))
        .order_by()
    }
    return BoardReport(
        organisation=organisation,
        quarter=quarter,
        quarter_code=quarter_name(quarter),
        quarter_label=quarter_label(quarter),
        complete=end <= (now or timezone.now()),
        received=figures.received if figures else 0,
        acknowledged_in_time=ClockFigure(figures.ack_in_time, figures.ack_decided) if figures else ClockFigure(0, 0),
        feedback_in_time=ClockFigure(figures.feedback_in_time, figures.feedback_decided)
        if figures
        else ClockFigure(0, 0),
        closed=figures.closed if figures else 0,
        closed_without_feedback=figures.closed_without_feedback if figures else 0,
        escalations=sorted(((names.get(c, c), n) for c, n in by_code.items()), key=lambda pair: pair[0]),
        alerts=[
            AlertCount(rule=LABELS[rule], opened=alerts[rule]["opened"], resolved=alerts[rule]["resolved"])
            for rule in Rule
            if rule.value in alerts
        ],
        quarterly=quarterly_return(organisation=organisation, quarter=quarter, published=False, now=now),
    )


# The prescribed person's annual report ------------------------------------------------------------


class Disposal:
    """What was done with a disclosure, in the words of the 2017 regulations' report."""

    REFERRED = "referred"
    ACTION = "action"
    NO_ACTION = "no_action"
    OPEN = "open"


DISPOSAL_LABELS = {
    Disposal.ACTION: "Further action taken",
    Disposal.REFERRED: "Referred to another body",
    Disposal.NO_ACTION: "No further action",
    Disposal.OPEN: "Still being considered",
}


@dataclass(frozen=True)
class AnnualReport:
    organisation: Organisation
    year: int  # the year starting 1 April of this year
    received: int
    disposals: list[tuple[str, int]]  # (label, count) in DISPOSAL_LABELS' order, every one shown
    themes: list[tuple[str, int]]  # (label, count) in the vocabulary's order; a concern may have several

    @property
    def period(self) -> str:
        return f"1 April {self.year} to 31 March {self.year + 1}"

    @property
    def year_label(self) -> str:
        return f"{self.year}/{(self.year + 1) % 100:02d}"


def prescribed_person_reported(*, user: User | AnonymousUser, code: str) -> Organisation:
    """A regulator or prescribed person whose report the user may read: its own members (role
    regulator, there or in a body above it). NotFound otherwise, as for none."""
    organisation = Organisation.objects.filter(code=code, kind=OrganisationKind.REGULATOR).first()
    if organisation is None or not user.is_authenticated:
        raise NotFound("No such organisation.")
    member = Membership.objects.filter(user=user, role=Role.REGULATOR).select_related("organisation")
    if not any(organisation.path.startswith(m.organisation.path) for m in member):
        raise NotFound("No such organisation.")
    return organisation


def annual_report(*, user: User | AnonymousUser, code: str, year: int) -> AnnualReport:
    """The numbers a prescribed person publishes for 1 April ``year`` to 31 March after it.

    Received: concerns whose route reached the body (or a body below it) by escalation in the year,
    counted once each, however often they arrived (the ``escalate`` Events whose ``to`` is the body).

    What was done with each, the first that applies:
    - referred to another body: it was escalated on from the body (an ``escalate`` Event ``from`` it);
    - further action taken: an action (ConcernAction) was agreed on it after it reached the body, or the
      body closed it (closed while held there) upheld or partly upheld (Concern.outcome);
    - no further action: the body closed it otherwise (not upheld, or no outcome recorded), gave
      feedback with no action agreed, or the raiser withdrew it;
    - still being considered: the rest (open with the body).
    Themes: each received concern counted under each of its themes.

    Numbers only: nothing names or counts by the worker, the trust or the ward. One grouped query for
    the disposals, and one pass of ``CHUNK`` rows at a time for the themes (a JSON list per concern)."""
    organisation = prescribed_person_reported(user=user, code=code)
    codes = list(Organisation.objects.filter(path__startswith=organisation.path).values_list("code", flat=True))
    start, end = _local_midnight(date(year, 4, 1)), _local_midnight(date(year + 1, 4, 1))
    arrivals = Event.objects.filter(kind=EventKind.ESCALATE, data__to__in=codes)
    in_year = arrivals.filter(created_at__gte=start, created_at__lt=end).values("concern_id")
    received = Concern.objects.filter(pk__in=in_year)
    reached = Subquery(
        arrivals.filter(concern=OuterRef("pk")).values("concern").annotate(first=Min("created_at")).values("first")
    )
    held_here = Q(holder__code__in=codes)
    disposed = received.annotate(
        reached_at=reached,
        referred=Exists(Event.objects.filter(concern=OuterRef("pk"), kind=EventKind.ESCALATE, data__from__in=codes)),
        acted=Exists(ConcernAction.objects.filter(concern=OuterRef("pk"), created_at__gte=OuterRef("reached_at"))),
    ).annotate(
        disposal=Case(
            When(referred=True, then=Value(Disposal.REFERRED)),
            When(acted=True, then=Value(Disposal.ACTION)),
            When(
                held_here & Q(state=State.CLOSED.value, outcome__in=[o.value for o in UPHELD]),
                then=Value(Disposal.ACTION),
            ),
            When(
                (held_here & Q(state__in=[State.CLOSED.value, State.FEEDBACK_GIVEN.value]))
                | Q(state=State.WITHDRAWN.value),
                then=Value(Disposal.NO_ACTION),
            ),
            default=Value(Disposal.OPEN),
            output_field=CharField(),
        )
    )
    by_disposal = dict(disposed.values("disposal").annotate(n=Count("pk")).order_by().values_list("disposal", "n"))
    themes: Counter[str] = Counter()
    for concern_themes in received.values_list("themes", flat=True).order_by().iterator(chunk_size=CHUNK):
        themes.update(set(concern_themes or []))
    return AnnualReport(
        organisation=organisation,
        year=year,
        received=sum(by_disposal.values()),
        disposals=[(label, by_disposal.get(key, 0)) for key, label in DISPOSAL_LABELS.items()],
        themes=[(theme.label, themes.get(theme.value, 0)) for theme in Theme],
    )


def last_complete_year(today: date) -> int:
    """The start of the last year (1 April to 31 March) that has ended."""
    return today.year - 1 if today.month >= 4 else today.year - 2


@dataclass(frozen=True)
class ReportLink:
    kind: str  # "board" or "annual"
    code: str
    name: str
    period: str  # "2026Q3" or the year "2026"
    label: str


def reports_for(*, user: User | AnonymousUser, today: date) -> list[ReportLink]:
    """The reports the user may read, for the dashboard to link: the last complete quarter's board
    report of each trust they watch, and the last complete year's report of each prescribed person
    they belong to. Two queries."""
    quarter = last_complete_quarter(today)
    trusts = Organisation.objects.filter(kind=OrganisationKind.PROVIDER).filter(
        scope.units_watched_q(user=user, through="")
    )
    links = [
        ReportLink("board", t.code, t.name, quarter_name(quarter), f"Board report, {quarter_label(quarter)}")
        for t in trusts.order_by("name")
    ]
    year = last_complete_year(today)
    if user.is_authenticated:
        regulators = Organisation.objects.filter(
            kind=OrganisationKind.REGULATOR,
            pk__in=Membership.objects.filter(user=user, role=Role.REGULATOR).values("organisation"),
        ).order_by("name")
        links += [
            ReportLink("annual", r.code, r.name, str(year), f"Annual report, 1 April {year} to 31 March {year + 1}")
            for r in regulators
        ]
    return links
