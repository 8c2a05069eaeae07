"""Read-only oversight figures: the governors' dashboard and the public figures for patient groups.

Both read only the folded tables (backend.oversight.figures says why): one indexed query each, whatever
the number of concerns. Public figures are suppressed on the way out (DOMAIN.md): a count from 1 to 4
shows as "fewer than 5" and any rate built on such a count is withheld. That covers the rate's
numerator, its base, and what is left when one is taken from the other (a rate of 97% of 100 would
give away the 3 that were not), so no small count can be worked back from what is shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, NamedTuple

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Max, Min, Q, Sum
from django.utils import timezone

from backend.concerns import scope
from backend.organisations.models import Organisation
from backend.oversight.figures import ACK_DAYS_TOP, quarter_of
from backend.oversight.models import FiguresRollup, OrganisationQuarterFigures, OversightTally
from notifications.selectors import deliveries_given_up_count

SMALL_MAX = 4  # counts 1..SMALL_MAX are suppressed
FEWER_THAN = f"fewer than {SMALL_MAX + 1}"
WITHHELD = "withheld"
NOT_APPLICABLE = "not applicable"

MONTHS = (
    *("January", "February", "March", "April", "May", "June"),
    *("July", "August", "September", "October", "November", "December"),
)


class Figure(NamedTuple):
    """One published number: ``value`` is None when withheld or not applicable; ``display`` is the
    words to show either way. (Named tuples: "all organisations" builds 3,000 of these per read.)"""

    value: float | None
    display: str
    withheld: bool


_SUPPRESSED = Figure(None, FEWER_THAN, True)
_WITHHELD = Figure(None, WITHHELD, True)
_NOT_APPLICABLE = Figure(None, NOT_APPLICABLE, False)


def count_figure(n: int) -> Figure:
    if 1 <= n <= SMALL_MAX:
        return _SUPPRESSED
    return Figure(float(n), str(n), False)


def share_figure(numerator: int, base: int) -> Figure:
    """A percentage of ``base``; withheld if the numerator, the base or the rest is from 1 to 4."""
    if base <= 0:
        return _NOT_APPLICABLE
    rest = base - numerator
    if base <= SMALL_MAX or 1 <= numerator <= SMALL_MAX or 1 <= rest <= SMALL_MAX:
        return _WITHHELD
    percent = round(100 * numerator / base, 1)
    return Figure(percent, f"{percent:.0f}%", False)


def median_figure(median: float | None, base: int) -> Figure:
    """The median days to acknowledge, built on ``base`` acknowledged concerns."""
    if base <= 0 or median is None:
        return _NOT_APPLICABLE
    if base <= SMALL_MAX:
        return _WITHHELD
    if median >= ACK_DAYS_TOP:
        return Figure(value=float(ACK_DAYS_TOP), display=f"{ACK_DAYS_TOP} days or more", withheld=False)
    if median == 0:
        return Figure(value=0.0, display="less than 1 day", withheld=False)
    shown = f"{median:g}"
    return Figure(value=median, display=f"{shown} day" if median == 1 else f"{shown} days", withheld=False)


def quarter_label(quarter: date) -> str:
    return f"{MONTHS[quarter.month - 1]} to {MONTHS[quarter.month + 1]} {quarter.year}"


def quarter_parse(text: str) -> date | None:
    """A quarter named by its first day (2026-04-01); None if that is not what the text is."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return None
    return day if day.day == 1 and day.month in (1, 4, 7, 10) else None


class QuarterFigures(NamedTuple):
    organisation_code: str
    organisation_name: str
    quarter: date
    quarter_label: str
    complete: bool  # the quarter has ended; otherwise the figures are so far
    concerns_received: Figure
    acknowledged_in_time: Figure
    median_days_to_acknowledge: Figure
    feedback_in_time: Figure
    escalated: Figure
    closed_without_feedback: Figure


_PUBLIC_COLUMNS = (
    "organisation__code",
    "organisation__name",
    "quarter",
    "received",
    "ack_decided",
    "ack_in_time",
    "acknowledged",
    "median_days_to_acknowledge",
    "feedback_decided",
    "feedback_in_time",
    "escalated",
    "closed",
    "closed_without_feedback",
)


def _quarter_figures(row: tuple[Any, ...], current: date, labels: dict[date, str]) -> QuarterFigures:
    (code, name, quarter, received, ack_decided, ack_in_time, acknowledged, median) = row[:8]
    feedback_decided, feedback_in_time, escalated, closed, closed_without_feedback = row[8:]
    label = labels.get(quarter)
    if label is None:
        label = labels[quarter] = quarter_label(quarter)
    return QuarterFigures(
        organisation_code=code,
        organisation_name=name,
        quarter=quarter,
        quarter_label=label,
        complete=quarter < current,
        concerns_received=count_figure(received),
        acknowledged_in_time=share_figure(ack_in_time, ack_decided),
        median_days_to_acknowledge=median_figure(median, acknowledged),
        feedback_in_time=share_figure(feedback_in_time, feedback_decided),
        escalated=share_figure(escalated, received),
        closed_without_feedback=share_figure(closed_without_feedback, closed),
    )


def _as_of() -> datetime | None:
    return FiguresRollup.objects.filter(pk=1).values_list("rolled_at", flat=True).first()


@dataclass(frozen=True)
class PublicQuarter:
    quarter: date | None
    quarter_label: str
    complete: bool
    quarters: list[date]  # every quarter with figures, newest first
    organisations: list[QuarterFigures]
    as_of: datetime | None

    @property
    def quarter_choices(self) -> list[tuple[date, str]]:
        return [(q, quarter_label(q)) for q in self.quarters]


def public_quarters() -> list[date]:
    """Every quarter from the first with figures to the last, newest first. Two index probes (MIN and
    MAX) rather than a DISTINCT over every row; a quarter in between with no concerns anywhere is
    listed and shows none."""
    span = OrganisationQuarterFigures.objects.aggregate(first=Min("quarter"), last=Max("quarter"))
    first, last = span["first"], span["last"]
    quarters: list[date] = []
    while first is not None and last is not None and last >= first:
        quarters.append(last)
        last = date(last.year - 1, 10, 1) if last.month == 1 else date(last.year, last.month - 3, 1)
    return quarters


def public_figures_by_quarter(*, quarter: date | None = None, now: datetime | None = None) -> PublicQuarter:
    """Every organisation's public figures for one quarter (the latest with figures if not given)."""
    current = quarter_of(now or timezone.now())
    labels: dict[date, str] = {}
    quarters = public_quarters()
    chosen = quarter if quarter is not None else (quarters[0] if quarters else None)
    rows = (
        OrganisationQuarterFigures.objects.filter(quarter=chosen)
        .order_by("organisation__name")
        .values_list(*_PUBLIC_COLUMNS)
        if chosen in quarters
        else []
    )
    return PublicQuarter(
        quarter=chosen,
        quarter_label=quarter_label(chosen) if chosen else "",
        complete=chosen is not None and chosen < current,
        quarters=quarters,
        organisations=[_quarter_figures(row, current, labels) for row in rows],
        as_of=_as_of(),
    )


@dataclass(frozen=True)
class PublicOrganisation:
    code: str
    name: str
    quarters: list[QuarterFigures]  # newest first
    as_of: datetime | None


def public_figures_for_organisation(*, code: str, now: datetime | None = None) -> PublicOrganisation | None:
    """One organisation's public figures, quarter by quarter; None if it has none."""
    current = quarter_of(now or timezone.now())
    labels: dict[date, str] = {}
    rows = list(
        OrganisationQuarterFigures.objects.filter(organisation__code=code)
        .order_by("-quarter")
        .values_list(*_PUBLIC_COLUMNS)
    )
    if not rows:
        return None
    return PublicOrganisation(
        code=rows[0][0],
        name=rows[0][1],
        quarters=[_quarter_figures(row, current, labels) for row in rows],
        as_of=_as_of(),
    )


class DashboardRow(NamedTuple):
    """One organisation's counts. A named tuple, like Figure: the national dashboard builds a thousand
    of these per read, and a frozen dataclass sets each field through object.__setattr__."""

    organisation_code: str
    organisation_name: str
    open_escalations: int
    overdue_clocks: int
    open_alerts: int


@dataclass(frozen=True)
class Dashboard:
    rows: list[DashboardRow]  # by the organisation holding the concerns now
    open_escalations: int
    overdue_clocks: int
    open_alerts: int
    as_of: datetime | None
    # E-mails and texts given up in the last week (an outage of e-mail or Twilio longer than
    # CANDOUR_DELIVERY_GIVE_UP_HOURS, or refused for good): across Candour, counts only.
    notices_not_sent: int = 0


# Scopes with more path prefixes than this (a commissioner of many trusts, say) are matched in Python
# over the non-zero tallies: PostgreSQL would test every LIKE of a long OR against every row.
SQL_SCOPE_MAX = 8


def _scope_prefixes(q: Q) -> tuple[set[str], set[str]] | None:
    """The holder and unit path prefixes of a scope that is a plain OR of path prefixes (the shape
    scope.oversight_q builds), or None for any other shape, which is then left to the database."""
    holders: set[str] = set()
    units: set[str] = set()
    nodes = [q]
    while nodes:
        node = nodes.pop()
        if node.negated or (node.connector != Q.OR and len(node.children) > 1):
            return None
        for child in node.children:
            if isinstance(child, Q):
                nodes.append(child)
                continue
            if not isinstance(child, tuple) or len(child) != 2:
                return None
            lookup, value = child
            if lookup == "pk__in" and not list(value):
                continue  # scope.NOTHING
            if not isinstance(value, str) or not value.endswith("/"):
                return None
            if lookup == "holder__path__startswith":
                holders.add(value)
            elif lookup == "unit__path__startswith":
                units.add(value)
            else:
                return None
    return holders, units


def _under(path: str, prefixes: set[str]) -> bool:
    """``path`` starts with one of ``prefixes``, all of them whole organisation paths ("/A/B/")."""
    return any(path[: i + 1] in prefixes for i, ch in enumerate(path) if ch == "/")


DashboardSums = tuple[str, str, str, int, int, int]  # path, code, name, escalations, overdue, alerts


def _dashboard_rows(q: Q, *, units_held_by: str | None = None) -> list[DashboardSums]:
    """The tallies in scope, summed by the organisation holding the concerns, in path order; or, with
    ``units_held_by`` (an organisation's code), that organisation's alone, summed by the unit each
    concern is about (the drill-down from an organisation to its units)."""
    nonzero = OversightTally.objects.filter(Q(open_escalations__gt=0) | Q(overdue_clocks__gt=0) | Q(open_alerts__gt=0))
    group = "holder" if units_held_by is None else "unit"
    if units_held_by is not None:
        nonzero = nonzero.filter(holder__code=units_held_by)
    prefixes = _scope_prefixes(q)
    if prefixes is None or len(prefixes[0]) + len(prefixes[1]) <= SQL_SCOPE_MAX:
        return list(
            nonzero.filter(q)
            .values_list(f"{group}__path", f"{group}__code", f"{group}__name")
            .annotate(Sum("open_escalations"), Sum("overdue_clocks"), Sum("open_alerts"))
            .order_by(f"{group}__path")
        )
    holders, units = prefixes
    held: dict[str, bool] = {}
    about: dict[str, bool] = {}
    sums: dict[tuple[str, str, str], list[int]] = {}
    tallies = nonzero.values_list(
        "holder__path",
        "unit__path",
        f"{group}__path",
        f"{group}__code",
        f"{group}__name",
        "open_escalations",
        "overdue_clocks",
        "open_alerts",
    )
    for holder_path, unit_path, path, code, name, escalations, overdue, alerts in tallies:
        if holder_path not in held:
            held[holder_path] = _under(holder_path, holders)
        if not held[holder_path]:
            if unit_path not in about:
                about[unit_path] = _under(unit_path, units)
            if not about[unit_path]:
                continue
        total = sums.setdefault((path, code, name), [0, 0, 0])
        total[0] += escalations
        total[1] += overdue
        total[2] += alerts
    return [(path, code, name, e, o, a) for (path, code, name), (e, o, a) in sorted(sums.items())]


@dataclass(frozen=True)
class DashboardDrill:
    """One organisation of the dashboard, by the units its concerns are about: counts only."""

    organisation_code: str
    organisation_name: str
    rows: list[DashboardRow]  # by unit


def oversight_dashboard_drill(*, user: User | AnonymousUser, code: str) -> DashboardDrill | None:
    """The dashboard's row for the organisation ``code``, opened out by unit, counting only what the
    user may know exists (the dashboard's own scope); None when there is nothing of it in their scope
    (the page answers 404, as for an organisation they do not oversee)."""
    rows = [DashboardRow(*sums[1:]) for sums in _dashboard_rows(scope.oversight_q(user=user), units_held_by=code)]
    if not rows:
        return None
    name = Organisation.objects.filter(code=code).values_list("name", flat=True).first() or code
    return DashboardDrill(organisation_code=code, organisation_name=name, rows=rows)


def oversight_dashboard(*, user: User | AnonymousUser) -> Dashboard:
    """For governors, commissioners and regulators: open escalations, overdue clocks and open alerts,
    by the organisation holding the concerns, counting only concerns the user may know exist
    (scope.oversight_q filters the tallies exactly as it filters concerns). Counts only."""
    rows = [DashboardRow(*sums[1:]) for sums in _dashboard_rows(scope.oversight_q(user=user))]
    return Dashboard(
        rows=rows,
        open_escalations=sum(r.open_escalations for r in rows),
        overdue_clocks=sum(r.overdue_clocks for r in rows),
        open_alerts=sum(r.open_alerts for r in rows),
        as_of=_as_of(),
        notices_not_sent=deliveries_given_up_count(),
    )
