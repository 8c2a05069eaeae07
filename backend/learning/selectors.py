"""Read-only queries for "you said, we did" and lessons, each scoped by role (backend.concerns.scope):

- a concern's summary: its guardians at the origin alone;
- summaries waiting for approval: the guardians of the organisation they are about;
- published summaries: anyone (the public page), only once public, words and quarter only;
- the raiser's view: the summary of their own concern, from their follow-up session;
- lessons: guardians anywhere (the lesson, never its concern or raiser), commissioners and regulators
  (which lessons recur among the organisations they oversee). Nobody else.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime

from django.contrib.auth.models import AnonymousUser, User
from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db import connection
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from backend.concerns import scope, selectors
from backend.concerns.models import Concern
from backend.errors import Forbidden, Invalid
from backend.learning.models import (
    SEARCH_CONFIG,
    Lesson,
    LessonLink,
    LessonMark,
    Summary,
    SummaryState,
    UnitType,
    lesson_search_vector,
)
from backend.learning.services import SUMMARY_CHECKLIST, publish_from, summary_is_public
from backend.organisations.models import Membership, Organisation, OrganisationKind, Role
from backend.oversight.selectors import Figure, count_figure, quarter_label
from workflows.engine import lifecycle
from workflows.engine.lifecycle import Actor
from workflows.engine.vocabulary import Theme, choices

WORDS_MAX = 200
LESSONS_SHOWN = 50


@dataclass(frozen=True)
class SummaryPage:
    """What a concern's guardian sees of its summary, and may do next."""

    reference: str
    may_write: bool  # a guardian of the organisation the concern is about
    closed: bool
    summary: Summary | None
    state_label: str
    public: bool
    public_from: str  # the quarter it may be published from, in words
    lesson: Lesson | None
    checklist: list[tuple[str, str]]
    themes: list[tuple[str, str]]
    unit_types: list[tuple[str, str]]


def _public_from(publish_at: datetime) -> str:
    return timezone.localtime(publish_at).date().strftime("%-d %B %Y")


def summary_page(*, user: User | AnonymousUser, reference: str, now: datetime | None = None) -> SummaryPage | None:
    """The summary of the concern ``reference`` for those handling it (its guardians at the origin
    may write it); None when the user may not know of the concern."""
    now = now or timezone.now()
    concern = selectors.concern_for_handler(user=user, reference=reference)
    if concern is None:
        return None
    staff: User = user  # type: ignore[assignment]  # concern_for_handler found nothing for a stranger
    # Its handler reads where the summary stands; only its guardians at the origin write and share it.
    may_write = scope.actor_for(user=staff, concern=concern) is Actor.GUARDIAN and not scope.outside_origin(
        user=staff, concern=concern
    )
    summary = Summary.objects.filter(concern=concern).select_related("author", "approver").first()
    lesson = Lesson.objects.filter(summary=summary).first() if summary else None
    public = summary is not None and summary_is_public(summary, now=now)
    if summary is not None:
        label = "Published" if public else summary.get_state_display()
        when = _public_from(summary.publish_at)
    else:
        label, when = "Not written yet", ""
    return SummaryPage(
        reference=concern.reference,
        may_write=may_write,
        closed=concern.state == lifecycle.State.CLOSED,
        summary=summary,
        state_label=label,
        public=public,
        public_from=when,
        lesson=lesson,
        checklist=list(SUMMARY_CHECKLIST.items()),
        themes=choices(Theme),
        unit_types=list(UnitType.choices),
    )


@dataclass(frozen=True)
class AwaitingApproval:
    summary_id: int
    reference: str
    text: str
    written_on: date
    public_from: str
    yours: bool  # the reader wrote it: a second guardian must approve


def summaries_awaiting_approval(*, user: User | AnonymousUser) -> list[AwaitingApproval]:
    """Summaries about the user's organisation (as its guardian) waiting for a second guardian."""
    if not user.is_authenticated:
        return []
    paths = list(Membership.objects.filter(user=user, role=Role.GUARDIAN).values_list("organisation__path", flat=True))
    if not paths:
        return []
    at_origin = Q(*[("concern__unit__path__startswith", p) for p in paths], _connector=Q.OR)
    rows = (
        Summary.objects.filter(at_origin, state=SummaryState.AWAITING_APPROVAL)
        .select_related("concern")
        .order_by("written_at", "pk")
    )
    return [
        AwaitingApproval(
            summary_id=s.pk,
            reference=s.concern.reference,
            text=s.text,
            written_on=timezone.localtime(s.written_at).date(),
            public_from=_public_from(s.publish_at),
            yours=s.author_id == user.pk,
        )
        for s in rows
    ]


@dataclass(frozen=True)
class SummariesPage:
    summaries: list[AwaitingApproval]
    may_browse_lessons: bool  # a guardian, commissioner or regulator: the lessons page is theirs


def summaries_page(*, user: User | AnonymousUser) -> SummariesPage:
    """The approval list, and whether to offer the lessons page (never a link that would refuse)."""
    roles = {m.role for m in _roles(user)}
    return SummariesPage(
        summaries=summaries_awaiting_approval(user=user),
        may_browse_lessons=bool(roles & {Role.GUARDIAN, Role.COMMISSIONER, Role.REGULATOR}),
    )


@dataclass(frozen=True)
class PublishedSummary:
    text: str
    quarter_label: str  # the quarter the concern closed in: as close as a time gets


@dataclass(frozen=True)
class PublicSummaries:
    items: list[PublishedSummary]
    counts: list[tuple[str, Figure]]  # per quarter closed, newest first, small numbers suppressed


def _published(now: datetime) -> Q:
    return Q(state=SummaryState.APPROVED, publish_at__lte=now)


def public_summaries(*, code: str, now: datetime | None = None) -> PublicSummaries:
    """An organisation's published summaries: words and the quarter only, never a concern's
    reference, a date or who wrote them; and how many were published per quarter."""
    now = now or timezone.now()
    rows = list(
        Summary.objects.filter(_published(now), organisation__code=code)
        .order_by("-quarter", "-pk")
        .values_list("text", "quarter")
    )
    per_quarter = Counter(quarter for _, quarter in rows)
    return PublicSummaries(
        items=[PublishedSummary(text=text, quarter_label=quarter_label(quarter)) for text, quarter in rows],
        counts=[(quarter_label(q), count_figure(n)) for q, n in sorted(per_quarter.items(), reverse=True)],
    )


def published_summaries_per_quarter(*, now: datetime | None = None) -> dict[tuple[int, date], int]:
    """(organisation id, quarter closed) -> summaries published: for the public figures' count."""
    now = now or timezone.now()
    rows = Summary.objects.filter(_published(now)).values_list("organisation_id", "quarter").annotate(n=Count("pk"))
    return {(org, quarter): n for org, quarter, n in rows}


@dataclass(frozen=True)
class RaiserSummary:
    text: str
    state_label: str
    public: bool
    public_from: str
    may_object: bool


def summary_for_raiser(*, concern: Concern, now: datetime | None = None) -> RaiserSummary | None:
    """The raiser of ``concern`` (their follow-up session holds it) sees its summary before anyone
    else, and may object until it is public."""
    now = now or timezone.now()
    summary = Summary.objects.filter(concern=concern).first()
    if summary is None:
        return None
    public = summary_is_public(summary, now=now)
    if summary.state == SummaryState.OBJECTED:
        label = "You objected: it will not be published"
    elif public:
        label = "Published on the organisation's public page"
    else:
        label = f"To be published from {_public_from(summary.publish_at)} unless you object"
    return RaiserSummary(
        text=summary.text,
        state_label=label,
        public=public,
        public_from=_public_from(summary.publish_at),
        may_object=summary.state != SummaryState.OBJECTED and not public,
    )


# Lessons -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LessonView:
    """A lesson as anyone allowed to browse sees it: never its concern, its reference or its raiser."""

    lesson_id: int
    title: str
    text: str
    theme_labels: list[str]
    unit_type_label: str
    organisation_name: str
    shared_quarter: str
    providers_marked: int
    marked_by_us: bool
    ours: bool  # shared by the reader's own organisation: nothing to mark
    system_signal: bool


@dataclass(frozen=True)
class LessonsPage:
    may_mark: bool  # guardians: mark and link
    lessons: list[LessonView]
    words: str
    theme: str
    unit_type: str
    themes: list[tuple[str, str]]
    unit_types: list[tuple[str, str]]
    my_concerns: list[str]  # references the reader may link a lesson to
    recurring: list[LessonView]  # for commissioners and regulators: lessons found across what they oversee


def _roles(user: User | AnonymousUser) -> list[Membership]:
    if not user.is_authenticated:
        return []
    return list(Membership.objects.filter(user=user).select_related("organisation"))


def lessons_search(*, lessons: QuerySet[Lesson], words: str) -> QuerySet[Lesson]:
    """Lessons matching ``words``: PostgreSQL's full text (the GIN index, ranked); elsewhere (SQLite,
    the embedded demo) every word somewhere in the title or text."""
    words = " ".join(words.split())
    if not words:
        return lessons.order_by("-shared_at", "-pk")
    if connection.vendor == "postgresql":
        query = SearchQuery(words, config=SEARCH_CONFIG, search_type="websearch")
        vector = lesson_search_vector()
        return (
            lessons.annotate(search=vector, rank=SearchRank(vector, query))
            .filter(search=query)
            .order_by("-rank", "-shared_at", "-pk")
        )
    for word in words.split():
        lessons = lessons.filter(Q(title__icontains=word) | Q(text__icontains=word))
    return lessons.order_by("-shared_at", "-pk")


def _views(rows: list[Lesson], *, ours: set[str], marked: set[int]) -> list[LessonView]:
    providers = dict(
        LessonMark.objects.filter(lesson__in=rows, organisation__kind=OrganisationKind.PROVIDER)
        .values_list("lesson_id")
        .annotate(n=Count("pk"))
    )
    return [
        LessonView(
            lesson_id=x.pk,
            title=x.title,
            text=x.text,
            theme_labels=x.theme_labels,
            unit_type_label=UnitType(x.unit_type).label,
            organisation_name=x.organisation.name,
            shared_quarter=quarter_label(publish_from(x.shared_at)[0]),
            providers_marked=providers.get(x.pk, 0),
            marked_by_us=x.pk in marked,
            ours=any(x.organisation.path.startswith(p) for p in ours),
            system_signal=x.signalled_at is not None,
        )
        for x in rows
    ]


def _overseen_paths(memberships: list[Membership]) -> list[str] | None:
    """Paths of the providers a commissioner commissions; None for a regulator (all of them)."""
    if any(m.role == Role.REGULATOR for m in memberships):
        return None
    icbs = [m.organisation.pk for m in memberships if m.role == Role.COMMISSIONER]
    return list(Organisation.objects.filter(commissioned_by__in=icbs).values_list("path", flat=True))


def _recurring(memberships: list[Membership]) -> list[Lesson]:
    """Lessons marked, or shared, by two or more of the organisations the reader oversees."""
    paths = _overseen_paths(memberships)
    involved: Counter[int] = Counter()
    marks = LessonMark.objects.values_list("lesson_id", "organisation__path")
    shared = Lesson.objects.values_list("pk", "organisation__path")
    for lesson_id, path in [*marks, *shared]:
        if paths is None or any(path.startswith(p) for p in paths):
            involved[lesson_id] += 1
    ids = [lesson_id for lesson_id, n in involved.items() if n >= 2]
    return list(Lesson.objects.filter(pk__in=ids).select_related("organisation").order_by("-shared_at", "-pk"))


def lessons_page(*, user: User | AnonymousUser, words: str = "", theme: str = "", unit_type: str = "") -> LessonsPage:
    """Lessons for guardians to browse (by theme, unit type and words) and for commissioners and
    regulators to see which recur. Forbidden for every other role."""
    memberships = _roles(user)
    guardian = [m for m in memberships if m.role == Role.GUARDIAN]
    overseer = [m for m in memberships if m.role in (Role.COMMISSIONER, Role.REGULATOR)]
    if not guardian and not overseer:
        raise Forbidden("Lessons are for guardians, commissioners and regulators.")
    if len(words) > WORDS_MAX:
        raise Invalid(f"Search for {WORDS_MAX} characters or fewer.")
    if theme and theme not in {t.value for t in Theme}:
        raise Invalid("Choose a theme from the list.")
    if unit_type and unit_type not in UnitType.values:
        raise Invalid("Choose a type of ward or team from the list.")
    lessons = Lesson.objects.select_related("organisation")
    if theme:
        lessons = lessons.filter(theme_rows__theme=theme)
    if unit_type:
        lessons = lessons.filter(unit_type=unit_type)
    rows = list(lessons_search(lessons=lessons, words=words)[:LESSONS_SHOWN])
    ours = {m.organisation.path for m in guardian}
    marked = set(
        LessonMark.objects.filter(organisation__in=[m.organisation for m in guardian]).values_list(
            "lesson_id", flat=True
        )
    )
    mine: list[str] = []
    if guardian:
        mine = list(
            Concern.objects.filter(scope.handling_q(user=user))
            .exclude(state=lifecycle.State.WITHDRAWN)
            .order_by("-received_at")
            .values_list("reference", flat=True)[:LESSONS_SHOWN]
        )
    recurring = _views(_recurring(overseer), ours=ours, marked=marked) if overseer else []
    return LessonsPage(
        may_mark=bool(guardian),
        lessons=_views(rows, ours=ours, marked=marked),
        words=words,
        theme=theme,
        unit_type=unit_type,
        themes=choices(Theme),
        unit_types=list(UnitType.choices),
        my_concerns=mine,
        recurring=recurring,
    )


def lesson_links(*, user: User | AnonymousUser, reference: str) -> list[LessonLink]:
    """Lessons linked to one of the user's own concerns (for its case), or none."""
    concern = selectors.concern_for_handler(user=user, reference=reference)
    if concern is None:
        return []
    return list(LessonLink.objects.filter(concern=concern).select_related("lesson"))
