"""The case page: who raised it only behind a button that says the look is recorded (and records it),
offered to those the rules allow; and each deadline with the working days left in words."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from django.contrib.auth import get_user_model

from backend.concerns import services
from backend.concerns.models import Event, IdentityMode
from backend.organisations.models import Organisation
from tests.support.concern_bodies import concern_body
from tests.support.sign_in import staff_client
from workflows.engine.calendar import WorkingCalendar
from workflows.engine.vocabulary import EventKind

pytestmark = pytest.mark.django_db

NAME, CONTACT = "IDENTITY-CANARY Person", "identity-canary@example.org"


def _raise(identity_mode: str) -> services.Raised:
    body = concern_body(identity_mode=identity_mode)
    if identity_mode != IdentityMode.ANONYMOUS:
        body |= {"raiser_name": NAME, "raiser_contact": CONTACT}
    return services.concern_raise(
        draft=services.ConcernDraft(**{**body, "unit": Organisation.objects.get(code="RNX07")})
    )


def _viewed(concern_id: int) -> int:
    return Event.objects.filter(concern_id=concern_id, kind=EventKind.IDENTITY_VIEWED).count()


def test_the_guardian_sees_a_confidential_raiser_only_by_asking_and_the_look_is_recorded(demo: None) -> None:
    concern = _raise(IdentityMode.CONFIDENTIAL).concern
    guardian = staff_client("guardian")
    page = guardian.get(f"/inbox/{concern.reference}/").content.decode()
    assert "Show who raised it" in page
    assert "recorded in the concern&#x27;s audit trail" in page or "recorded in the concern's audit trail" in page
    assert NAME not in page and CONTACT not in page
    assert _viewed(concern.pk) == 0

    shown = guardian.post(f"/inbox/{concern.reference}/identity/")
    assert shown.status_code == 200
    assert shown["Cache-Control"].startswith("max-age=0") or "no-cache" in shown["Cache-Control"]
    body = shown.content.decode()
    assert NAME in body and CONTACT in body and "This look has been recorded" in body
    assert _viewed(concern.pk) == 1
    guardian.post(f"/inbox/{concern.reference}/identity/")
    assert _viewed(concern.pk) == 2  # every look, not the first

    # A handler it was placed with is not offered the button, and asking anyway is refused, unrecorded.
    handler = get_user_model().objects.get(username="handler")
    services.concern_acknowledge(concern_id=concern.pk, user=get_user_model().objects.get(username="guardian"))
    services.concern_assign(
        concern_id=concern.pk, user=get_user_model().objects.get(username="guardian"), handler=handler
    )
    placed = staff_client("handler")
    assert "Show who raised it" not in placed.get(f"/inbox/{concern.reference}/").content.decode()
    refused = placed.post(f"/inbox/{concern.reference}/identity/")
    assert refused.status_code == 403 and NAME not in refused.content.decode()
    assert _viewed(concern.pk) == 2
    # Another trust's guardian cannot find the concern at all.
    assert staff_client("guardian-community").post(f"/inbox/{concern.reference}/identity/").status_code == 404


def test_an_anonymous_concern_offers_no_identity(demo: None) -> None:
    concern = _raise(IdentityMode.ANONYMOUS).concern
    assert "Show who raised it" not in staff_client("guardian").get(f"/inbox/{concern.reference}/").content.decode()


def test_each_deadline_says_the_working_days_left(demo: None) -> None:
    concern = _raise(IdentityMode.ANONYMOUS).concern
    page = staff_client("guardian").get(f"/inbox/{concern.reference}/").content.decode()
    left = re.findall(r'data-testid="working-days-left">\((\d+) working days? left\)', page)
    # A staff concern's 7 calendar days and the inactivity clock's 20 working days: both still running.
    assert len(left) >= 2 and all(int(n) >= 3 for n in left), left


@pytest.mark.parametrize(
    ("now", "due", "left"),
    [
        # Friday before Christmas 2026 to Tuesday 29th: Mon 21 to Thu 24 and Tue 29 (25th, the weekend and
        # the Boxing Day holiday moved to Monday 28th are not working days).
        (datetime(2026, 12, 18, 10, tzinfo=UTC), datetime(2026, 12, 29, 10, tzinfo=UTC), 5),
        (datetime(2026, 12, 18, 10, tzinfo=UTC), datetime(2026, 12, 18, 17, tzinfo=UTC), 0),  # due today
        (datetime(2026, 12, 18, 10, tzinfo=UTC), datetime(2026, 12, 17, 10, tzinfo=UTC), 0),  # passed
        (datetime(2026, 12, 18, 10, tzinfo=UTC), datetime(2026, 12, 21, 9, tzinfo=UTC), 1),  # over a weekend
    ],
)
def test_working_days_left_counts_the_working_days_after_today_up_to_the_deadline(
    now: datetime, due: datetime, left: int
) -> None:
    assert WorkingCalendar().working_days_left(now, due) == left
