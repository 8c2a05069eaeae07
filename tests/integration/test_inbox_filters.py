"""The guardian's inbox (issue 14 item 4): filters (overdue, due soon, escalated to us, with alerts,
by unit and theme), counts, order and pages from the query string, the page and the API's list
answering the same question the same way (one set of selectors does the filtering)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
import time_machine
from django.contrib.auth import get_user_model

from backend.concerns import selectors, services
from backend.concerns.inbox_query import InboxQuery, InboxSort
from backend.organisations.models import Organisation
from backend.oversight.services import concerns_arrival_check
from tests.support.factories import ConcernFactory
from tests.support.sign_in import api_client, staff_client

pytestmark = pytest.mark.django_db

NOW = datetime(2025, 12, 10, 12, 0, tzinfo=UTC)  # a Wednesday


def at(day: int, hour: int) -> datetime:
    return datetime(2025, 12, day, hour, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Inbox:
    overdue: str  # raised 28 November: its 7 days passed on 5 December, unanswered
    due_soon: str  # raised 4 December: due 11 December, reminded from the 9th
    escalated: str  # raised today on the ward, escalated by its guardian to the trust
    first: str  # maternity, worker safety, 8 December
    alerted: str  # the same unit and theme while the first is open: a sidelining alert


@pytest.fixture
def inbox(demo: None) -> Iterator[Inbox]:
    ward, maternity = Organisation.objects.get(code="RNX07"), Organisation.objects.get(code="RNXMAT")
    overdue = ConcernFactory.create(unit=ward, themes=["patient_safety"], now=datetime(2025, 11, 28, 9, tzinfo=UTC))
    due_soon = ConcernFactory.create(unit=maternity, themes=["bullying"], now=at(4, 14))
    escalated = ConcernFactory.create(unit=ward, themes=["behaviour"], now=at(10, 9))
    services.concern_escalate_by_guardian(
        concern_id=escalated.pk, user=get_user_model().objects.get(username="guardian"), reason="x", now=at(10, 10)
    )
    first = ConcernFactory.create(unit=maternity, themes=["worker_safety"], now=at(8, 9))
    alerted = ConcernFactory.create(unit=maternity, themes=["worker_safety"], now=at(9, 9))
    concerns_arrival_check(now=at(9, 10))
    with time_machine.travel(NOW, tick=False):
        yield Inbox(overdue.reference, due_soon.reference, escalated.reference, first.reference, alerted.reference)


def page_refs(query: str) -> list[str]:
    html = staff_client("guardian").get(f"/inbox/?{query}").content.decode()
    return re.findall(r">(CN-[A-Z0-9]{4}-[A-Z0-9]{4})</a>", html)


def api_refs(query: str) -> list[str]:
    body = api_client("guardian").get(f"/api/v1/concerns/?{query}").json()
    return [row["reference"] for row in body["results"]]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("overdue=true", ["overdue"]),
        ("due_soon=true", ["due_soon"]),
        ("due=soon", ["due_soon"]),  # the inbox's first link still works
        ("escalated_to_us=true", ["escalated"]),
        ("with_alerts=true", ["alerted"]),
        ("unit=RNXMAT", ["due_soon", "first", "alerted"]),
        ("theme=bullying", ["due_soon"]),
        ("unit=RNX07&theme=behaviour", ["escalated"]),
        ("unit=RNX07&overdue=true", ["overdue"]),
        ("unit=RNXMAT&with_alerts=true&due_soon=true", []),
    ],
)
def test_each_filter_finds_its_concerns_on_the_page_and_in_the_api(
    inbox: Inbox, query: str, expected: list[str]
) -> None:
    wanted = {getattr(inbox, name) for name in expected}
    assert set(page_refs(query)) == wanted
    if not query.startswith("due="):
        assert set(api_refs(query)) == wanted


def test_the_page_counts_every_filter_over_the_whole_inbox(inbox: Inbox) -> None:
    html = staff_client("guardian").get("/inbox/?unit=RNX07").content.decode()
    assert "You handle 5 concerns." in html
    for label, count in (("Overdue", 1), ("Due soon", 1), ("Escalated to us", 1), ("With open alerts", 1)):
        assert f"{label} ({count})" in html
    assert 'data-testid="overdue"' in html and "Escalated to us</strong>" in html


def test_sorting_by_received_and_by_next_deadline(inbox: Inbox) -> None:
    newest = page_refs("sort=newest")
    assert newest[0] == inbox.escalated and newest[-1] == inbox.overdue
    assert page_refs("sort=oldest") == list(reversed(newest))
    # The next running deadline first: the overdue one (5 December), then the one due on the 11th.
    assert page_refs("sort=due")[:2] == [inbox.overdue, inbox.due_soon]
    assert api_refs("sort=due")[:2] == [inbox.overdue, inbox.due_soon]


def test_pages_keep_the_filters_and_a_bad_query_says_what_is_wrong(inbox: Inbox) -> None:
    guardian = get_user_model().objects.get(username="guardian")
    query = InboxQuery(sort=InboxSort.OLDEST, page=2)
    second = selectors.concern_inbox_page(user=guardian, query=query, now=NOW, per_page=2)
    assert [c.reference for c in second.page.object_list] == [inbox.first, inbox.alerted]
    assert (second.page.number, second.page.paginator.num_pages, second.counts["total"]) == (2, 3, 5)
    beyond = selectors.concern_inbox_page(user=guardian, query=InboxQuery(page=99), now=NOW, per_page=2)
    assert beyond.page.number == 3  # past the end: the last page, not an error
    client = staff_client("guardian")
    for bad, words in (("sort=sideways", "Choose an order from the list."), ("page=two", "A page is a whole number.")):
        answer = client.get(f"/inbox/?{bad}")
        assert answer.status_code == 400 and words in answer.content.decode()
    assert api_client("guardian").get("/api/v1/concerns/?sort=sideways").status_code == 400


def test_the_next_page_link_carries_the_filters(demo: None) -> None:
    ward = Organisation.objects.get(code="RNX07")
    for day in range(1, 28):
        ConcernFactory.create(unit=ward, themes=["other"], now=datetime(2025, 11, day, 9, tzinfo=UTC))
    html = staff_client("guardian").get("/inbox/?theme=other&sort=oldest").content.decode()
    assert "Concerns 1 to 25 of 27" in html
    assert 'href="?theme=other&amp;sort=oldest&amp;page=2"' in html
    second = staff_client("guardian").get("/inbox/?theme=other&sort=oldest&page=2").content.decode()
    assert "Concerns 26 to 27 of 27" in second
