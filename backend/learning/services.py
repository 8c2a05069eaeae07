"""Use cases of "you said, we did" and lessons shared across organisations: one function each,
keyword-only, with an injectable clock (``now``).

Everything that touches a concern is recorded on its audit chain (an Event through ``Act``, in the
same transaction as the row it explains): the summary written, approved, objected to; the lesson
shared; a concern of another organisation linked to a lesson; the system signal. Marks are the
organisation's own rows (who, when), and the system signal they lead to is opened once, by a
column set in the transaction that opens it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction

from backend.concerns import scope
from backend.concerns.audit import words_digest
from backend.concerns.models import Concern, Event
from backend.concerns.notices import Directory, notices_send
from backend.concerns.services.common import Act, locked, notice_hold, now_or
from backend.errors import Conflict, Forbidden, Invalid, NotFound
from backend.learning.checks import identifying_found, reporting_organisation, staff_names
from backend.learning.models import Lesson, LessonLink, LessonMark, LessonTheme, Summary, SummaryState, UnitType
from backend.organisations.models import Membership, OrganisationKind, Role
from notifications.services import DeliveryRequest
from workflows.engine import lifecycle
from workflows.engine.lifecycle import Actor
from workflows.engine.sidelining import Rule
from workflows.engine.vocabulary import EventKind, Theme

SUMMARY_MAX = 1500
TITLE_MAX = 200

# What the guardian confirms before a summary goes anywhere (the automatic check finds staff names
# and numbers; these are what it cannot find). Policy as data: the page lists these, the service
# requires every one.
SUMMARY_CHECKLIST: dict[str, str] = {
    "no_names": "It names nobody: no raiser, patient, relative or member of staff",
    "no_dates": "It gives no dates, days or times",
    "no_places": "It names no place smaller than the organisation (no ward, bay or room)",
    "no_rare_roles": "It mentions no role so rare it points to one person (the only night porter, say)",
}

# The raiser reads an approved summary on their follow-up page this long before it can go public, so a
# summary approved after its quarter has ended still gives them the time to object.
RAISER_NOTICE = timedelta(days=14)

# A lesson recurs across the system once this many providers say "we have this too".
SYSTEM_SIGNAL_PROVIDERS = 3


def publish_from(closed_at: datetime) -> tuple[date, datetime]:
    """The quarter a concern closed in (its first day) and the moment its summary may first be public:
    the start of the next quarter, in England, so a published summary cannot be tied to a day."""
    local = closed_at.astimezone(ZoneInfo(settings.TIME_ZONE)).date()
    quarter = date(local.year, 3 * ((local.month - 1) // 3) + 1, 1)
    after = date(quarter.year + (quarter.month == 10), (quarter.month + 2) % 12 + 1, 1)
    return quarter, datetime.combine(after, time.min, tzinfo=ZoneInfo(settings.TIME_ZONE))


def _closed_at(concern: Concern) -> datetime:
    at = (
        Event.objects.filter(concern=concern, kind=EventKind.CLOSE)
        .order_by("-seq")
        .values_list("created_at", flat=True)
        .first()
    )
    if concern.state != lifecycle.State.CLOSED or at is None:
        raise Conflict("A public summary is written once the concern has closed.")
    return at


def _guardian_at_origin(*, concern: Concern, user: User, refusal: str) -> None:
    """The guardians of the organisation the concern is about, not a body further up its route."""
    if scope.actor_for(user=user, concern=concern) is not Actor.GUARDIAN or scope.outside_origin(
        user=user, concern=concern
    ):
        raise Forbidden(refusal)


def _refuse_identifying(*, text: str, concern: Concern) -> None:
    names = staff_names(organisation=reporting_organisation(concern.unit))
    found = identifying_found(text=text, names=names)
    if found:
        listed = "; ".join(str(f) for f in found)
        raise Invalid(f"Take out what could identify someone before it can be approved: {listed}.")


@transaction.atomic
def summary_write(
    *, concern_id: int, user: User, text: str, checklist: Sequence[str], now: datetime | None = None
) -> Summary:
    """A guardian of a closed concern writes (or rewrites) its "you said, we did" summary. Refused
    while it holds a staff name or a number, or until every checklist item is confirmed; rewriting
    asks for approval again. The raiser sees it on their follow-up page from now on."""
    now = now_or(now)
    concern = locked(concern_id)
    _guardian_at_origin(concern=concern, user=user, refusal="Only a guardian of this organisation writes its summary.")
    quarter, publish_at = publish_from(_closed_at(concern))
    text = " ".join(text.split())
    if not text:
        raise Invalid("Write the summary: what the concern raised and what changed.")
    if len(text) > SUMMARY_MAX:
        raise Invalid(f"Keep the summary to {SUMMARY_MAX} characters or fewer.")
    missing = [label for key, label in SUMMARY_CHECKLIST.items() if key not in checklist]
    if missing:
        raise Invalid("Confirm each item of the checklist: " + "; ".join(missing) + ".")
    _refuse_identifying(text=text, concern=concern)
    summary = Summary.objects.filter(concern=concern).first()
    if summary is not None and summary.state == SummaryState.OBJECTED:
        raise Conflict("The raiser objected to this summary: it will not be published.")
    if summary is not None and summary.state == SummaryState.APPROVED and summary.publish_at <= now:
        raise Conflict("This summary is already public.")
    act = Act(concern, Actor.GUARDIAN, user.pk, now)
    act.record(EventKind.SUMMARY_WRITTEN, visible_to_raiser=True)
    if summary is None:
        summary = Summary(
            concern=concern,
            organisation=reporting_organisation(concern.unit),
            text=text,
            checklist=sorted(SUMMARY_CHECKLIST),
            author=user,
            written_at=now,
            quarter=quarter,
            publish_at=publish_at,
        )
        act.work.add(summary)
    else:
        summary.text, summary.author, summary.written_at = text, user, now
        summary.state, summary.approver, summary.approved_at = SummaryState.AWAITING_APPROVAL, None, None
        summary.publish_at = publish_at  # an earlier approval's notice period starts again on approval
        act.work.update([summary], ["text", "author", "written_at", "state", "approver", "approved_at", "publish_at"])
    act.done()
    return summary


def _summary_locked(summary_id: int) -> Summary:
    summary = Summary.objects.select_for_update().filter(pk=summary_id).first()
    if summary is None:
        raise NotFound("No such summary.")
    return summary


@transaction.atomic
def summary_approve(*, summary_id: int, user: User, now: datetime | None = None) -> Summary:
    """A second guardian of the organisation approves the summary; never its author. It is public
    from its ``publish_at`` on: the end of the quarter the concern closed in, or RAISER_NOTICE after
    approval if that is later (the raiser always has time to read it first and object)."""
    now = now_or(now)
    summary = _summary_locked(summary_id)
    concern = locked(summary.concern_id)
    try:
        _guardian_at_origin(concern=concern, user=user, refusal="Only a guardian of this organisation approves.")
    except Forbidden as refused:
        raise NotFound("No such summary.") from refused  # its existence is the organisation's business
    if summary.author_id == user.pk:
        raise Forbidden("You wrote this summary: a second guardian must approve it.")
    if summary.state != SummaryState.AWAITING_APPROVAL:
        raise Conflict(f"This summary is not waiting for approval ({summary.get_state_display().lower()}).")
    # The words are checked again: a member of staff may have joined since it was written.
    _refuse_identifying(text=summary.text, concern=concern)
    summary.state, summary.approver, summary.approved_at = SummaryState.APPROVED, user, now
    # Never sooner than the quarter's end (the anonymity bucket), nor than the raiser's notice period.
    summary.publish_at = max(summary.publish_at, now + RAISER_NOTICE)
    act = Act(concern, Actor.GUARDIAN, user.pk, now)
    act.record(EventKind.SUMMARY_APPROVED, data={"publish_at": summary.publish_at.isoformat()})
    act.work.update([summary], ["state", "approver", "approved_at", "publish_at"])
    act.done()
    return summary


def _objection_notices(*, concern: Concern) -> list[DeliveryRequest]:
    guardians = Directory.guardians_above(concern.unit).guardians_of(concern.unit)
    return [
        DeliveryRequest(
            idempotency_key=f"summary-objected:{concern.pk}:{user.pk}:in_app",
            channel="in_app",
            recipient=str(user.pk),
            subject=f"Candour: the raiser of {concern.reference} objected to its public summary",
            body=f"The raiser of concern {concern.reference} objected to its 'you said, we did' summary. "
            "It will not be published.",
        )
        for user in guardians
    ]


@transaction.atomic
def summary_object(*, concern_id: int, now: datetime | None = None) -> Summary:
    """The raiser (by their receipt's follow-up session) objects before the summary is public: it is
    never published, and the organisation's guardians are told in Candour."""
    now = now_or(now)
    concern = locked(concern_id)
    summary = Summary.objects.select_for_update().filter(concern=concern).first()
    if summary is None:
        raise NotFound("There is no summary of this concern.")
    if summary.state == SummaryState.OBJECTED:
        raise Conflict("You have already objected: it will not be published.")
    if summary.state == SummaryState.APPROVED and summary.publish_at <= now:
        raise Conflict("The summary is already public. Write to the guardian if you want it taken down.")
    summary.state, summary.objected_at = SummaryState.OBJECTED, now
    act = Act(concern, Actor.RAISER, None, now)
    act.record(EventKind.SUMMARY_OBJECTED, visible_to_raiser=True)
    act.work.update([summary], ["state", "objected_at"])
    act.done()
    # An anonymous raiser's notice waits past the hour, as every notice their actions cause.
    hold = notice_hold(concern, at=now)
    notices_send([_with_hold(r, hold) for r in _objection_notices(concern=concern)], now=now)
    return summary


def _with_hold(request: DeliveryRequest, hold: datetime | None) -> DeliveryRequest:
    return replace(request, not_before=hold)


def summary_is_public(summary: Summary, *, now: datetime) -> bool:
    return summary.state == SummaryState.APPROVED and summary.publish_at <= now


@transaction.atomic
def lesson_share(
    *,
    summary_id: int,
    user: User,
    title: str,
    themes: Sequence[str],
    unit_type: str,
    now: datetime | None = None,
) -> Lesson:
    """A guardian shares a published summary with the network as a lesson: its title, the summary's
    words, themes and the unit type. Nothing else of the concern goes with it."""
    now = now_or(now)
    summary = _summary_locked(summary_id)
    concern = locked(summary.concern_id)
    try:
        _guardian_at_origin(concern=concern, user=user, refusal="Only a guardian of this organisation shares it.")
    except Forbidden as refused:
        raise NotFound("No such summary.") from refused
    if not summary_is_public(summary, now=now):
        raise Conflict("Only a published summary can be shared as a lesson.")
    if Lesson.objects.filter(summary=summary).exists():
        raise Conflict("This summary is already shared as a lesson.")
    title = " ".join(title.split())
    if not title:
        raise Invalid("Give the lesson a title.")
    if len(title) > TITLE_MAX:
        raise Invalid(f"Keep the title to {TITLE_MAX} characters or fewer.")
    _refuse_identifying(text=title, concern=concern)
    known = {t.value for t in Theme}
    chosen = sorted({t for t in themes if t in known}, key=[t.value for t in Theme].index)
    if not chosen or len(chosen) != len(set(themes)):
        raise Invalid("Choose at least one theme from the list.")
    if unit_type not in UnitType.values:
        raise Invalid("Choose the type of ward or team it came from.")
    lesson = Lesson(
        summary=summary,
        organisation=summary.organisation,
        title=title,
        text=summary.text,
        themes=chosen,
        unit_type=unit_type,
        shared_by=user,
        shared_at=now,
    )
    act = Act(concern, Actor.GUARDIAN, user.pk, now)
    act.record(EventKind.LESSON_SHARED)
    act.done()
    lesson.save()
    LessonTheme.objects.bulk_create([LessonTheme(lesson=lesson, theme=t) for t in chosen])
    return lesson


def _guardian_organisations(user: User) -> list[Membership]:
    return list(Membership.objects.filter(user=user, role=Role.GUARDIAN).select_related("organisation"))


def _lesson_locked(lesson_id: int) -> Lesson:
    # FOR UPDATE: two organisations marking at once must not both see two marks and neither signal.
    lesson = Lesson.objects.select_for_update().filter(pk=lesson_id).first()
    if lesson is None:
        raise NotFound("No such lesson.")
    return lesson


@transaction.atomic
def lesson_mark(*, lesson_id: int, user: User, now: datetime | None = None) -> LessonMark:
    """A guardian of another organisation says "we have this too", for their organisation (once).
    The third provider to mark it opens one system signal: an oversight alert on the concern it came
    from, which its governors and commissioners see (opened once, however many mark it after)."""
    now = now_or(now)
    lesson = _lesson_locked(lesson_id)
    memberships = _guardian_organisations(user)
    if not memberships:
        raise Forbidden("Only guardians mark a lesson as one their organisation has too.")
    origin = lesson.organisation
    theirs = [m.organisation for m in memberships if not origin.path.startswith(m.organisation.path)]
    if not theirs or any(m.organisation.path.startswith(origin.path) for m in memberships):
        raise Conflict("This lesson was shared by your own organisation.")
    organisation = theirs[0]
    mark, created = LessonMark.objects.get_or_create(
        lesson=lesson, organisation=organisation, defaults={"marked_by": user, "marked_at": now}
    )
    if not created:
        return mark
    providers = LessonMark.objects.filter(lesson=lesson, organisation__kind=OrganisationKind.PROVIDER).count()
    if providers >= SYSTEM_SIGNAL_PROVIDERS and lesson.signalled_at is None:
        lesson.signalled_at = now
        lesson.save(update_fields=["signalled_at"])
        concern = locked(lesson.summary.concern_id)
        act = Act(concern, Actor.SYSTEM, None, now)
        act.record(EventKind.LESSON_RECURS, data={"providers": providers})
        act.sidelined(Rule.LESSON_RECURS, subject=words_digest(f"lesson-recurs:{lesson.pk}"))
        act.done()
    return mark


@transaction.atomic
def lesson_link(*, lesson_id: int, user: User, reference: str, now: datetime | None = None) -> LessonLink:
    """A guardian links one of their own concerns to another organisation's lesson. The link is
    recorded on that concern's trail; the lesson's organisation never sees which concern it is."""
    now = now_or(now)
    lesson = Lesson.objects.filter(pk=lesson_id).first()
    if lesson is None:
        raise NotFound("No such lesson.")
    concern_id = Concern.objects.filter(reference=reference.strip().upper()[:16]).values_list("pk", flat=True).first()
    if concern_id is None:
        raise Invalid("Choose one of your concerns to link.")
    concern = locked(concern_id)
    if scope.actor_for(user=user, concern=concern) is not Actor.GUARDIAN:
        raise Invalid("Choose one of your concerns to link.")  # the same words: no hint it exists
    link, created = LessonLink.objects.get_or_create(
        lesson=lesson, concern=concern, defaults={"linked_by": user, "linked_at": now}
    )
    if created:
        act = Act(concern, Actor.GUARDIAN, user.pk, now)
        act.record(EventKind.LESSON_LINKED, data={"lesson": lesson.pk})
        act.done()
    return link
