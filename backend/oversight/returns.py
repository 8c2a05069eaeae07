"""The quarterly speaking-up data return: one organisation's, or an integrated care board's rolled up
over the providers it commissions, read from the folded counts (ReturnCount), never the concerns.

Each quarter every trust's guardian sends NHS England an aggregate, anonymous return of the cases
received in the quarter (backend.oversight.figures says how each is counted). Two forms:
- submitted (``published=False``): the true numbers, as the collection asks for them;
- published (``published=True``): small numbers suppressed by the public figures' rule
  (backend.oversight.selectors): a count from 1 to 4 shows as "fewer than 5", and any share built on
  such a count (its numerator, its base, or what is left of one from the other) is withheld.

Shares: anonymous, each theme, detriment and each professional group are shares of the cases; "would
speak up again" answers are shares of those who answered. A concern with two themes counts under
both, so the themes' shares may add up to more than 100%.
"""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Q, Sum
from django.utils import timezone

from backend.concerns.groups import professional_group_labels
from backend.concerns.models import SpeakUpAgain
from backend.organisations.models import Membership, Organisation, OrganisationKind, Role
from backend.oversight.figures import quarter_of
from backend.oversight.models import FiguresRollup, Measure, ReturnCount
from backend.oversight.selectors import Figure, count_figure, quarter_label, share_figure
from workflows.engine.vocabulary import Theme

# Providers read together when an integrated care board's return lists each of them (the CSV).
PROVIDER_BATCH = 50

_QUARTER = re.compile(r"^(\d{4})[Qq]([1-4])$")


def return_quarter_parse(text: str) -> date | None:
    """A quarter as the return names it, "2026Q3" (calendar quarters: Q3 is July to September), or by
    its first day, "2026-07-01"; None if the text is neither."""
    found = _QUARTER.match(text.strip())
    if found:
        return date(int(found[1]), 3 * (int(found[2]) - 1) + 1, 1)
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        return None
    return day if day.day == 1 and day.month in (1, 4, 7, 10) else None


def quarter_name(quarter: date) -> str:
    """2026Q3: how the API, the command and the CSV's file name call a quarter."""
    return f"{quarter.year}Q{(quarter.month - 1) // 3 + 1}"


@dataclass(frozen=True, slots=True)
class ReturnLine:
    """One line of the return: a measure, its key (a theme, group or answer; "" for none), the words
    shown for it, its count and its share (of the cases, or of those who answered)."""

    measure: str
    key: str
    label: str
    count: Figure
    share: Figure


@dataclass(frozen=True)
class QuarterlyReturn:
    organisation_code: str
    organisation_name: str
    organisation_kind: str
    quarter: date
    quarter_name: str  # 2026Q3
    quarter_label: str  # July to September 2026
    complete: bool  # the quarter has ended; otherwise the counts are so far
    published: bool  # small numbers suppressed (True) or the true numbers (False)
    # For an integrated care board: the providers rolled up, (code, name), by name. Empty otherwise.
    providers: list[tuple[str, str]]
    cases: Figure
    anonymous: ReturnLine
    themes: list[ReturnLine]  # every theme of the vocabulary, in its order
    detriment: ReturnLine
    groups: list[ReturnLine]  # every professional group, in its order
    answered: Figure  # those who answered "would you speak up again?"
    speak_up_again: list[ReturnLine]  # yes / no / maybe / don't know, shares of those who answered
    as_of: datetime | None

    @property
    def lines(self) -> list[ReturnLine]:
        """Every line, in the order the collection asks for them (the CSV's rows)."""
        cases = ReturnLine(Measure.RETURN_CASES.value, "", "Cases", self.cases, _NONE)
        answered = ReturnLine("answered", "", "Answered whether they would speak up again", self.answered, _NONE)
        return [
            cases,
            self.anonymous,
            *self.themes,
            self.detriment,
            *self.groups,
            answered,
            *self.speak_up_again,
        ]


_NONE = Figure(None, "", False)


def _exact_count(n: int) -> Figure:
    return Figure(float(n), str(n), False)


def _exact_share(numerator: int, base: int) -> Figure:
    if base <= 0:
        return Figure(None, "not applicable", False)
    percent = round(100 * numerator / base, 1)
    return Figure(percent, f"{percent:.1f}%", False)


def _return_of(
    *,
    organisation: Organisation,
    quarter: date,
    published: bool,
    counts: dict[tuple[str, str], int],
    providers: list[tuple[str, str]],
    now: datetime,
    as_of: datetime | None,
) -> QuarterlyReturn:
    count = count_figure if published else _exact_count
    share = share_figure if published else _exact_share
    cases = counts.get((Measure.RETURN_CASES, ""), 0)

    def line(measure: str, key: str, label: str, base: int) -> ReturnLine:
        n = counts.get((measure, key), 0)
        return ReturnLine(measure, key, label, count(n), share(n, base))

    groups = professional_group_labels()
    answered = sum(counts.get((Measure.RETURN_SPEAK_UP, a.value), 0) for a in SpeakUpAgain)
    return QuarterlyReturn(
        organisation_code=organisation.code,
        organisation_name=organisation.name,
        organisation_kind=organisation.kind,
        quarter=quarter,
        quarter_name=quarter_name(quarter),
        quarter_label=quarter_label(quarter),
        complete=quarter < quarter_of(now),
        published=published,
        providers=providers,
        cases=count(cases),
        anonymous=line(Measure.RETURN_ANONYMOUS, "", "Raised anonymously", cases),
        themes=[line(Measure.RETURN_THEME, t.value, t.label, cases) for t in Theme],
        detriment=line(Measure.RETURN_DETRIMENT, "", "Detriment indicated", cases),
        groups=[line(Measure.RETURN_GROUP, value, label, cases) for value, label in groups.items()],
        answered=count(answered),
        speak_up_again=[line(Measure.RETURN_SPEAK_UP, a.value, a.label, answered) for a in SpeakUpAgain],
        as_of=as_of,
    )


def _providers_of(icb: Organisation) -> list[Organisation]:
    return list(
        Organisation.objects.filter(commissioned_by=icb, kind=OrganisationKind.PROVIDER)
        .only("pk", "code", "name", "kind")
        .order_by("name", "code")
    )


def _counts(organisation_ids: Sequence[int], quarter: date) -> dict[tuple[str, str], int]:
    """The folded counts of these organisations in the quarter, summed: one indexed query."""
    rows = (
        ReturnCount.objects.filter(organisation_id__in=list(organisation_ids), quarter=quarter)
        .values_list("measure", "key")
        .annotate(total=Sum("value"))
    )
    return {(measure, key): total for measure, key, total in rows}


def _as_of() -> datetime | None:
    return FiguresRollup.objects.filter(pk=1).values_list("rolled_at", flat=True).first()


def quarterly_return(
    *, organisation: Organisation, quarter: date, published: bool, now: datetime | None = None
) -> QuarterlyReturn:
    """The quarterly return of ``organisation`` for the quarter beginning ``quarter`` (its first day),
    from the folded counts: one query for a trust, two for an integrated care board (its providers,
    then their counts summed, with any concern about the board itself). ``published``: small numbers
    suppressed as the public figures are; otherwise the true numbers, as submitted. Access is the
    caller's: see ``quarterly_return_for``."""
    providers: list[tuple[str, str]] = []
    ids = [organisation.pk]
    if organisation.kind == OrganisationKind.ICB:
        commissioned = _providers_of(organisation)
        providers = [(p.code, p.name) for p in commissioned]
        ids += [p.pk for p in commissioned]
    return _return_of(
        organisation=organisation,
        quarter=quarter,
        published=published,
        counts=_counts(ids, quarter),
        providers=providers,
        now=now or timezone.now(),
        as_of=_as_of(),
    )


def return_organisations(*, user: User | AnonymousUser) -> list[Organisation]:
    """The organisations whose return the user may produce. A guardian: their own organisation (a
    trust, or an integrated care board, whose return rolls up its providers), or for a guardian of a
    ward or team the trust above it. A commissioner: their integrated care board and each provider it
    commissions. Nobody else, whatever else they may see."""
    if not user.is_authenticated:
        return []
    memberships = list(
        Membership.objects.filter(user=user, role__in=[Role.GUARDIAN, Role.COMMISSIONER]).select_related("organisation")
    )
    if not memberships:
        return []
    conditions: list[Q] = []
    for m in memberships:
        org = m.organisation
        if m.role == Role.GUARDIAN and org.kind in (OrganisationKind.PROVIDER, OrganisationKind.ICB):
            conditions.append(Q(pk=org.pk))
        elif m.role == Role.GUARDIAN:
            above = org.path.strip("/").split("/")
            conditions.append(Q(kind=OrganisationKind.PROVIDER, code__in=above))
        elif org.kind == OrganisationKind.ICB:
            conditions += [Q(pk=org.pk), Q(commissioned_by=org, kind=OrganisationKind.PROVIDER)]
    if not conditions:
        return []
    return list(Organisation.objects.filter(Q(*conditions, _connector=Q.OR)).order_by("kind", "name"))


def quarterly_return_for(
    *, user: User | AnonymousUser, code: str, quarter: date, published: bool, now: datetime | None = None
) -> QuarterlyReturn | None:
    """The return of the organisation ``code`` if the user may produce it (``return_organisations``);
    None otherwise, the same answer as for an organisation that does not exist."""
    organisation = next((o for o in return_organisations(user=user) if o.code == code), None)
    if organisation is None:
        return None
    return quarterly_return(organisation=organisation, quarter=quarter, published=published, now=now)


CSV_HEADER = ("organisation", "organisation_name", "quarter", "measure", "key", "label", "count", "share")


def _csv_rows(found: QuarterlyReturn) -> Iterator[tuple[str, ...]]:
    for line in found.lines:
        yield (
            found.organisation_code,
            found.organisation_name,
            found.quarter_name,
            line.measure,
            line.key,
            line.label,
            line.count.display,
            line.share.display,
        )


def quarterly_return_csv_rows(
    *,
    found: QuarterlyReturn,
    organisation: Organisation,
    batch: int = PROVIDER_BATCH,
    progress: Callable[[int, int], None] | None = None,
) -> Iterator[tuple[str, ...]]:
    """The return's CSV rows, produced as they are written: the header, the return's own lines, then
    for an integrated care board each provider's lines, read ``batch`` providers a query, so the
    export never holds more than one batch (and never a concern) in memory. ``progress(done, total)``
    is told after each batch of providers."""
    yield CSV_HEADER
    yield from _csv_rows(found)
    if organisation.kind != OrganisationKind.ICB:
        if progress is not None:
            progress(1, 1)
        return
    providers = _providers_of(organisation)
    now = timezone.now()
    for start in range(0, len(providers), batch):
        chunk = providers[start : start + batch]
        by_org: dict[int, dict[tuple[str, str], int]] = defaultdict(dict)
        rows = ReturnCount.objects.filter(organisation_id__in=[p.pk for p in chunk], quarter=found.quarter).values_list(
            "organisation_id", "measure", "key", "value"
        )
        for org_id, measure, key, value in rows:
            by_org[org_id][(measure, key)] = value
        for provider in chunk:
            yield from _csv_rows(
                _return_of(
                    organisation=provider,
                    quarter=found.quarter,
                    published=found.published,
                    counts=by_org[provider.pk],
                    providers=[],
                    now=now,
                    as_of=found.as_of,
                )
            )
        if progress is not None:
            progress(start + len(chunk), len(providers))


class _Line:
    """A file-like object that hands back what csv.writer writes, so each row is yielded, not kept."""

    def write(self, text: str) -> str:
        return text


def quarterly_return_csv(
    *,
    organisation: Organisation,
    quarter: date,
    published: bool,
    progress: Callable[[int, int], None] | None = None,
) -> Iterator[str]:
    """The return as CSV text, a row at a time (for a streamed download, or the command's output)."""
    found = quarterly_return(organisation=organisation, quarter=quarter, published=published)
    writer = csv.writer(_Line())
    for row in quarterly_return_csv_rows(found=found, organisation=organisation, progress=progress):
        yield writer.writerow(row)


def quarterly_return_csv_for(
    *, user: User | AnonymousUser, code: str, quarter: date, published: bool
) -> Iterator[str] | None:
    """The CSV of ``quarterly_return_csv`` if the user may produce that organisation's return; None
    otherwise (the same answer as for an organisation that does not exist)."""
    organisation = next((o for o in return_organisations(user=user) if o.code == code), None)
    if organisation is None:
        return None
    return quarterly_return_csv(organisation=organisation, quarter=quarter, published=published)


def organisation_by_code(*, code: str) -> Organisation | None:
    """For the operator's command, which is not scoped by a user."""
    return Organisation.objects.filter(code=code).first()


def quarters_offered(*, now: datetime | None = None, count: int = 8) -> list[date]:
    """The quarter now and the ``count - 1`` before it, newest first: what the page offers."""
    quarter = quarter_of(now or timezone.now())
    offered = []
    for _ in range(count):
        offered.append(quarter)
        quarter = date(quarter.year - 1, 10, 1) if quarter.month == 1 else date(quarter.year, quarter.month - 3, 1)
    return offered


@dataclass(frozen=True)
class ReturnPage:
    """What the return's page shows: the organisations and quarters the user may choose from, and the
    return chosen (by default their first organisation's, for the last complete quarter)."""

    organisations: list[tuple[str, str]]
    quarters: list[tuple[str, str]]  # (2026Q3, July to September 2026), newest first
    found: QuarterlyReturn


def quarterly_return_page_for(
    *,
    user: User | AnonymousUser,
    code: str | None,
    quarter: date | None,
    published: bool,
    now: datetime | None = None,
) -> ReturnPage | None:
    """The page's return: None when the user may produce no return at all, or not ``code``'s."""
    now = now or timezone.now()
    allowed = return_organisations(user=user)
    if not allowed:
        return None
    organisation = allowed[0] if not code else next((o for o in allowed if o.code == code), None)
    if organisation is None:
        return None
    offered = quarters_offered(now=now)
    chosen = quarter or offered[1]  # the last complete quarter: the one being returned
    return ReturnPage(
        organisations=[(o.code, o.name) for o in allowed],
        quarters=[(quarter_name(q), quarter_label(q)) for q in sorted({*offered, chosen}, reverse=True)],
        found=quarterly_return(organisation=organisation, quarter=chosen, published=published, now=now),
    )
