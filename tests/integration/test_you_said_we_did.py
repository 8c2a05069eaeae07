"""'You said, we did' and lessons shared across organisations (issue 13 items 2 and 3), through the
real services, selectors and pages, with time travel by ``now`` parameters: a summary with a staff
name or a number is refused until edited; its author cannot approve it; nothing is public before the
end of the quarter the concern closed in; the raiser's objection stops it; lessons are found by theme
and by words (PostgreSQL's full text); three providers marking a lesson open one system signal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.utils import timezone

from backend.concerns import services
from backend.concerns.models import Concern, Event
from backend.errors import Conflict, Forbidden, Invalid, NotFound
from backend.learning import selectors
from backend.learning import services as learning
from backend.learning.models import Lesson, Summary, SummaryState
from backend.organisations.models import Membership, Organisation, Role
from backend.oversight.models import Alert
from tests.support.factories import CareSystemFactory, StaffFactory
from tests.support.sign_in import staff_client

pytestmark = pytest.mark.django_db

RAISED = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)  # a Monday in January
CLOSED = datetime(2026, 2, 10, 11, 0, tzinfo=UTC)  # closed in January to March 2026
QUARTER_ENDS = datetime(2026, 4, 1, 0, 0, tzinfo=UTC) - timedelta(hours=1)  # 1 April, 00:00 in England (BST)
EVERYTHING = ["no_names", "no_dates", "no_places", "no_rare_roles"]
WORDS = (
    "You told us night shifts on the ward were left with one registered nurse. "
    "We now roster two registered nurses on every night and check it each week."
)


def _user(username: str) -> User:
    return get_user_model().objects.get(username=username)


def _closed(
    unit: Organisation,
    guardian: User,
    *,
    raiser: str = "named",
    closed: datetime = CLOSED,
    handler: User | None = None,
) -> tuple[Concern, str]:
    raised = services.concern_raise(
        draft=services.ConcernDraft(
            unit=unit,
            raiser_kind="staff",
            identity_mode=raiser,
            raiser_name="Raiser Canary" if raiser == "named" else "",
            themes=["patient_safety"],
            what_happened="Night rotas leave one nurse on the ward",
        ),
        now=RAISED,
    )
    concern = raised.concern
    services.concern_acknowledge(concern_id=concern.pk, user=guardian, now=RAISED + timedelta(hours=1))
    if handler is not None:
        services.concern_assign(concern_id=concern.pk, user=guardian, handler=handler, now=RAISED + timedelta(hours=1))
    services.concern_start_review(concern_id=concern.pk, user=guardian, now=RAISED + timedelta(hours=2))
    services.concern_give_feedback(
        concern_id=concern.pk, user=guardian, feedback="We changed the rota", now=closed - timedelta(hours=1)
    )
    services.concern_close(concern_id=concern.pk, user=guardian, reason="Done", now=closed)
    return Concern.objects.get(pk=concern.pk), raised.receipt


def _second_guardian(organisation: Organisation) -> User:
    user: User = StaffFactory(
        username="guardian-two", membership__role=Role.GUARDIAN, membership__organisation=organisation
    )
    return user


@pytest.fixture
def named_staff(demo: None) -> None:
    """Staff of the trust with names, as the check looks them up (the demo's have none)."""
    get_user_model().objects.filter(username="handler").update(first_name="Priya", last_name="Okafor")
    get_user_model().objects.filter(username="governor").update(first_name="Tom", last_name="Reyes")


def test_a_summary_naming_staff_or_holding_a_number_is_refused_until_edited(named_staff: None) -> None:
    guardian = _user("guardian")
    concern, _ = _closed(Organisation.objects.get(code="RNX07"), guardian)
    for words, found in (
        ("Sister PRIYA said the rota was fixed.", "the name “PRIYA”"),
        ("Priya Okafor changed the rota.", "the name “Priya Okafor”"),
        ("Ring 07700 900123 about the rota.", "the number “07700 900123”"),
        ("Bed 12 now has a call bell.", "the number “12”"),
    ):
        with pytest.raises(Invalid) as refused:
            learning.summary_write(concern_id=concern.pk, user=guardian, text=words, checklist=EVERYTHING)
        assert found in str(refused.value), str(refused.value)
    # A name inside another word is not a name ("Tomorrow" holds "Tom"); the checklist is required.
    with pytest.raises(Invalid, match="Confirm each item"):
        learning.summary_write(concern_id=concern.pk, user=guardian, text=WORDS, checklist=EVERYTHING[:3])
    assert not Summary.objects.filter(concern=concern).exists()
    summary = learning.summary_write(
        concern_id=concern.pk, user=guardian, text="Tomorrow and every night: " + WORDS, checklist=EVERYTHING
    )
    assert summary.state == SummaryState.AWAITING_APPROVAL
    assert Event.objects.filter(concern=concern, kind="summary_written", visible_to_raiser=True).count() == 1
    # Encrypted until published: the words are not in the row as stored.
    with connection.cursor() as cursor:
        cursor.execute("SELECT text FROM learning_summary WHERE id = %s", [summary.pk])
        assert "registered nurse" not in cursor.fetchone()[0]


def test_the_page_says_what_was_found_so_the_guardian_can_edit(named_staff: None) -> None:
    concern, _ = _closed(Organisation.objects.get(code="RNX07"), _user("guardian"))
    client = staff_client("guardian")
    body = {"text": "Tom Reyes moved 2 nurses.", "checklist": EVERYTHING}
    refused = client.post(f"/you-said-we-did/{concern.reference}/", body)
    assert refused.status_code == 400
    page = refused.content.decode()
    assert "the name “Tom Reyes”" in page and "the number “2”" in page
    assert (
        client.post(f"/you-said-we-did/{concern.reference}/", {"text": WORDS, "checklist": EVERYTHING}).status_code
        == 302
    )


def test_the_author_cannot_approve_and_nothing_is_public_before_the_quarter_ends(named_staff: None) -> None:
    guardian = _user("guardian")
    trust = Organisation.objects.get(code="RNX")
    second = _second_guardian(trust)
    concern, _ = _closed(Organisation.objects.get(code="RNX07"), guardian)
    summary = learning.summary_write(
        concern_id=concern.pk, user=guardian, text=WORDS, checklist=EVERYTHING, now=CLOSED + timedelta(days=1)
    )
    with pytest.raises(Forbidden, match="second guardian"):
        learning.summary_approve(summary_id=summary.pk, user=guardian, now=CLOSED + timedelta(days=2))
    # Not approved: not public even long after the quarter.
    assert selectors.public_summaries(code="RNX", now=QUARTER_ENDS + timedelta(days=30)).items == []
    # A handler of the trust (not a guardian) is told nothing of it.
    with pytest.raises(NotFound):  # the summary is not theirs to know of
        learning.summary_approve(summary_id=summary.pk, user=_user("handler"), now=CLOSED + timedelta(days=2))
    learning.summary_approve(summary_id=summary.pk, user=second, now=CLOSED + timedelta(days=2))
    assert Event.objects.filter(concern=concern, kind="summary_approved").count() == 1
    # Approved in February: still not public at the last moment of March, public on 1 April.
    before = QUARTER_ENDS - timedelta(seconds=1)
    assert selectors.public_summaries(code="RNX", now=before).items == []
    after = selectors.public_summaries(code="RNX", now=QUARTER_ENDS)
    assert [item.text for item in after.items] == [WORDS]
    assert after.items[0].quarter_label.endswith("2026")
    assert [(quarter, figure.display) for quarter, figure in after.counts] == [
        (after.items[0].quarter_label, "fewer than 5")
    ]


def test_the_raiser_reads_it_first_and_their_objection_stops_it(named_staff: None) -> None:
    guardian = _user("guardian")
    second = _second_guardian(Organisation.objects.get(code="RNX"))
    # Closed today: its quarter has not ended, so the raiser's page (which reads the real clock) offers
    # the objection.
    concern, receipt = _closed(
        Organisation.objects.get(code="RNX07"), guardian, raiser="anonymous", closed=timezone.now()
    )
    summary = learning.summary_write(concern_id=concern.pk, user=guardian, text=WORDS, checklist=EVERYTHING)
    learning.summary_approve(summary_id=summary.pk, user=second)
    # The raiser's follow-up page shows it, with the way to stop it.
    raiser = Client()
    assert raiser.post("/follow-up/", {"receipt": receipt}).status_code == 302
    page = raiser.get("/follow-up/concern/summary/").content.decode()
    assert WORDS in page and "Do not publish this summary" in page
    assert raiser.post("/follow-up/concern/summary/").status_code == 302
    assert Summary.objects.get(pk=summary.pk).state == SummaryState.OBJECTED
    assert Event.objects.filter(concern=concern, kind="summary_objected", visible_to_raiser=True).count() == 1
    # Never public, whatever the date; the guardians are told in Candour; a rewrite is refused.
    assert selectors.public_summaries(code="RNX", now=QUARTER_ENDS + timedelta(days=400)).items == []
    from notifications.models import Delivery

    told = Delivery.objects.filter(channel="in_app", idempotency_key__startswith=f"summary-objected:{concern.pk}:")
    assert {d.recipient for d in told} >= {str(guardian.pk), str(second.pk)}
    with pytest.raises(Conflict, match="objected"):
        learning.summary_write(concern_id=concern.pk, user=guardian, text=WORDS, checklist=EVERYTHING)
    assert "will not be published" in raiser.get("/follow-up/concern/summary/").content.decode()


def test_the_public_page_shows_it_after_the_quarter_and_never_the_concern(named_staff: None) -> None:
    guardian = _user("guardian")
    second = _second_guardian(Organisation.objects.get(code="RNX"))
    concern, _ = _closed(Organisation.objects.get(code="RNX07"), guardian)
    # Written and approved a month ago: the quarter has ended and so has the raiser's notice period.
    month_ago = timezone.now() - timedelta(days=30)
    summary = learning.summary_write(
        concern_id=concern.pk, user=guardian, text=WORDS, checklist=EVERYTHING, now=month_ago
    )
    learning.summary_approve(summary_id=summary.pk, user=second, now=month_ago)
    from backend.oversight.figures import figures_rollup

    figures_rollup()
    page = Client().get("/figures/RNX/").content.decode()  # today (after the quarter): published
    assert WORDS in page and "You said, we did" in page
    assert concern.reference not in page


# Lessons ------------------------------------------------------------------------------------------


def _published_lesson(*, title: str, words: str, themes: list[str], unit_type: str = "acute_ward") -> Lesson:
    guardian = _user("guardian")
    second = get_user_model().objects.filter(username="guardian-two").first() or _second_guardian(
        Organisation.objects.get(code="RNX")
    )
    concern, _ = _closed(Organisation.objects.get(code="RNX07"), guardian)
    summary = learning.summary_write(
        concern_id=concern.pk, user=guardian, text=words, checklist=EVERYTHING, now=CLOSED + timedelta(days=1)
    )
    learning.summary_approve(summary_id=summary.pk, user=second, now=CLOSED + timedelta(days=2))
    return learning.lesson_share(
        summary_id=summary.pk, user=guardian, title=title, themes=themes, unit_type=unit_type, now=QUARTER_ENDS
    )


def test_lessons_are_found_by_theme_and_by_words_with_full_text_search(demo: None) -> None:
    assert connection.vendor == "postgresql"
    rota = _published_lesson(title="Safer night staffing", words=WORDS, themes=["patient_safety"])
    bullying = _published_lesson(
        title="Speaking up about bullying in theatres",
        words="You said a senior colleague shouted at juniors. "
        "We ran civility training and changed who leads handover.",
        themes=["bullying"],
        unit_type="surgical",
    )
    other = _user("guardian-community")
    by_theme = selectors.lessons_page(user=other, theme="bullying")
    assert [x.title for x in by_theme.lessons] == [bullying.title]
    # Full text: stemmed ("rostering" finds "roster"), any order, ranked; a word in neither finds nothing.
    assert [x.title for x in selectors.lessons_page(user=other, words="rostering nurses").lessons] == [rota.title]
    assert [x.title for x in selectors.lessons_page(user=other, words="shouting").lessons] == [bullying.title]
    assert selectors.lessons_page(user=other, words="parking").lessons == []
    assert [x.title for x in selectors.lessons_page(user=other, unit_type="surgical").lessons] == [bullying.title]
    with pytest.raises(Invalid):
        selectors.lessons_page(user=other, theme="not-a-theme")
    # The index the search uses exists.
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'lesson_search'")
        assert "gin" in cursor.fetchone()[0].lower()


def test_three_providers_marking_a_lesson_open_one_system_signal(demo: None) -> None:
    lesson = _published_lesson(title="Safer night staffing", words=WORDS, themes=["patient_safety"])
    concern_id = lesson.summary.concern_id
    # The lesson's own organisation cannot mark it.
    with pytest.raises(Conflict):
        learning.lesson_mark(lesson_id=lesson.pk, user=_user("guardian"))
    guardians = [_user("guardian-community")]
    for _ in range(3):
        system = CareSystemFactory()
        guardians.append(StaffFactory(membership__role=Role.GUARDIAN, membership__organisation=system.trust))
    learning.lesson_mark(lesson_id=lesson.pk, user=guardians[0])
    learning.lesson_mark(lesson_id=lesson.pk, user=guardians[1])
    learning.lesson_mark(lesson_id=lesson.pk, user=guardians[1])  # twice by one: still one organisation
    assert not Alert.objects.filter(rule="lesson_recurs").exists()  # two providers: no signal
    learning.lesson_mark(lesson_id=lesson.pk, user=guardians[2])
    learning.lesson_mark(lesson_id=lesson.pk, user=guardians[3])
    [alert] = Alert.objects.filter(rule="lesson_recurs")  # once, not per mark
    assert (
        alert.concern_id == concern_id and alert.get_rule_display() == "A lesson recurs across three or more providers"
    )
    assert Event.objects.filter(concern_id=concern_id, kind="lesson_recurs").count() == 1
    assert Lesson.objects.get(pk=lesson.pk).signalled_at is not None
    # The regulator sees it recur, as a system signal, on the lessons page.
    page = selectors.lessons_page(user=_user("regulator"))
    [recurring] = [x for x in page.recurring if x.lesson_id == lesson.pk]
    assert recurring.system_signal and recurring.providers_marked == 4


def test_guardians_elsewhere_browse_lessons_but_never_see_the_concern_or_its_raiser(demo: None) -> None:
    lesson = _published_lesson(title="Safer night staffing", words=WORDS, themes=["patient_safety"])
    concern = Concern.objects.get(pk=lesson.summary.concern_id)
    client = staff_client("guardian-community")
    page = client.get("/lessons/").content.decode()
    assert "Safer night staffing" in page and "We have this too" in page
    assert concern.reference not in page and "Raiser Canary" not in page
    assert client.get(f"/inbox/{concern.reference}/").status_code == 404
    assert client.get(f"/you-said-we-did/{concern.reference}/").status_code == 404
    # Marking and linking one of their own concerns, by the pages.
    assert client.post("/lessons/mark/", {"lesson": lesson.pk}).status_code == 302
    own, _ = _closed(Organisation.objects.get(code="RCXDNE"), _user("guardian-community"))
    assert client.post("/lessons/link/", {"lesson": lesson.pk, "reference": own.reference}).status_code == 302
    assert Event.objects.filter(concern=own, kind="lesson_linked").count() == 1
    # Another organisation's concern cannot be linked, and its existence is not confirmed.
    refused = client.post("/lessons/link/", {"lesson": lesson.pk, "reference": concern.reference})
    assert refused.status_code == 400
    # A patient group, a handler and a governor see no lessons: only what is public.
    for role in ("patient-group", "handler", "governor"):
        assert staff_client(role).get("/lessons/").status_code == 403
    assert Client().get("/lessons/").status_code == 302  # sent to sign in


def test_a_patient_group_sees_only_what_is_public(named_staff: None) -> None:
    guardian = _user("guardian")
    concern, _ = _closed(Organisation.objects.get(code="RNX07"), guardian)
    learning.summary_write(concern_id=concern.pk, user=guardian, text=WORDS, checklist=EVERYTHING)
    from backend.oversight.figures import figures_rollup

    figures_rollup()
    patients = staff_client("patient-group")
    assert WORDS not in patients.get("/figures/RNX/").content.decode()  # awaiting approval: not public
    assert patients.get(f"/you-said-we-did/{concern.reference}/").status_code == 404
    assert patients.get("/you-said-we-did/").content.decode().count('data-testid="awaiting"') == 0
    assert Membership.objects.filter(user__username="patient-group", role=Role.PATIENT_GROUP).exists()


def test_the_demo_gives_the_pages_something_real_to_show(demo: None) -> None:
    from backend.learning.demo import learning_demo_seed

    guardian = _user("guardian")
    for _ in range(2):
        _closed(Organisation.objects.get(code="RNX07"), guardian)
    later = QUARTER_ENDS + timedelta(days=10)
    _closed(Organisation.objects.get(code="RNX07"), guardian, closed=later - timedelta(days=1))
    assert learning_demo_seed(now=later) == 3
    assert learning_demo_seed(now=later) == 0  # once
    assert len(selectors.public_summaries(code="RNX", now=later).items) == 2
    [lesson] = selectors.lessons_page(user=_user("regulator")).lessons
    assert lesson.providers_marked == 1
    assert len(selectors.summaries_awaiting_approval(user=guardian)) == 1


def test_the_handler_reads_where_the_summary_stands_but_cannot_write_it(named_staff: None) -> None:
    guardian = _user("guardian")
    concern, _ = _closed(Organisation.objects.get(code="RNX07"), guardian, handler=_user("handler"))
    handler = staff_client("handler")
    page = handler.get(f"/you-said-we-did/{concern.reference}/").content.decode()
    assert "Only a guardian of the organisation" in page and "Save the summary" not in page
    refused = handler.post(f"/you-said-we-did/{concern.reference}/", {"text": WORDS, "checklist": EVERYTHING})
    assert refused.status_code == 403
    assert not Summary.objects.filter(concern=concern).exists()


def test_a_summary_approved_after_its_quarter_still_waits_for_the_raiser_s_notice_period(named_staff: None) -> None:
    guardian = _user("guardian")
    second = _second_guardian(Organisation.objects.get(code="RNX"))
    concern, _ = _closed(Organisation.objects.get(code="RNX07"), guardian)
    # Written and approved in May, long after its quarter (January to March) ended.
    may = datetime(2026, 5, 12, 10, 0, tzinfo=UTC)
    summary = learning.summary_write(concern_id=concern.pk, user=guardian, text=WORDS, checklist=EVERYTHING, now=may)
    learning.summary_approve(summary_id=summary.pk, user=second, now=may + timedelta(hours=1))
    notice_ends = may + timedelta(hours=1) + learning.RAISER_NOTICE
    assert selectors.public_summaries(code="RNX", now=notice_ends - timedelta(seconds=1)).items == []
    # The raiser may still object in that time, and it is never published.
    objected = learning.summary_object(concern_id=concern.pk, now=notice_ends - timedelta(days=1))
    assert objected.state == SummaryState.OBJECTED
    assert selectors.public_summaries(code="RNX", now=notice_ends + timedelta(days=30)).items == []


def test_without_an_objection_a_late_approval_is_public_once_the_notice_period_ends(named_staff: None) -> None:
    guardian = _user("guardian")
    second = _second_guardian(Organisation.objects.get(code="RNX"))
    concern, _ = _closed(Organisation.objects.get(code="RNX07"), guardian)
    may = datetime(2026, 5, 12, 10, 0, tzinfo=UTC)
    summary = learning.summary_write(concern_id=concern.pk, user=guardian, text=WORDS, checklist=EVERYTHING, now=may)
    learning.summary_approve(summary_id=summary.pk, user=second, now=may)
    assert [i.text for i in selectors.public_summaries(code="RNX", now=may + learning.RAISER_NOTICE).items] == [WORDS]
