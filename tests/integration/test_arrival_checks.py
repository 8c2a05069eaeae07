"""The arrival sweep: detectors that look at a concern once it has arrived, run off the raiser's request.

A raise writes its concern flagged as waiting; the beat's sweep (workflows.tasks.arrival_checks_sweep)
runs the detectors once per concern, whatever happened to the worker or broker in between.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from backend.concerns import services
from backend.concerns.models import Concern
from backend.organisations.models import Organisation, Role
from backend.oversight import services as oversight_services
from backend.oversight.models import Alert
from notifications.models import Delivery
from tests.support.factories import CareSystemFactory, ConcernFactory, StaffFactory

pytestmark = pytest.mark.django_db

START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def _raise(at: datetime, themes: list[str], unit: Organisation) -> Concern:
    return ConcernFactory(
        unit=unit, raiser_kind="staff", identity_mode="anonymous", themes=themes, what_happened="ARRIVAL-CANARY", now=at
    )


def _pending(*concerns: Concern) -> list[bool]:
    return [Concern.objects.get(pk=c.pk).arrival_checks_pending for c in concerns]


def test_each_concern_is_checked_once_and_only_an_earlier_open_one_makes_a_repeat() -> None:
    system = CareSystemFactory()  # a trust with two wards
    governor = StaffFactory(membership__role=Role.GOVERNOR, membership__organisation=system.board)
    ward, other_ward = system.wards
    first = _raise(START, ["bullying"], ward)
    second = _raise(START + timedelta(minutes=1), ["bullying", "other"], ward)
    elsewhere = _raise(START + timedelta(minutes=2), ["bullying"], other_ward)
    assert _pending(first, second, elsewhere) == [True, True, True]
    assert not Alert.objects.exists()  # nothing is decided while the raiser waits

    assert oversight_services.concerns_arrival_check(now=START + timedelta(minutes=3)) == 3
    assert _pending(first, second, elsewhere) == [False, False, False]
    # The first was checked with the second already open, and is still no repeat: only earlier ones count.
    assert list(Alert.objects.values_list("concern_id", "rule")) == [(second.pk, "repeat")]
    assert Delivery.objects.filter(recipient=str(governor.pk), subject__contains="alert").count() == 1

    # A second sweep finds nothing waiting and changes nothing.
    assert oversight_services.concerns_arrival_check(now=START + timedelta(minutes=4)) == 0
    assert Alert.objects.count() == 1


def test_a_closed_earlier_concern_is_no_repeat() -> None:
    system = CareSystemFactory()
    guardian = StaffFactory(membership__role=Role.GUARDIAN, membership__organisation=system.trust)
    ward = system.wards[0]
    first = _raise(START, ["worker_safety"], ward)
    oversight_services.concerns_arrival_check(now=START)
    services.concern_acknowledge(concern_id=first.pk, user=guardian, now=START + timedelta(hours=1))
    services.concern_close(concern_id=first.pk, user=guardian, reason="resolved", now=START + timedelta(hours=2))
    later = _raise(START + timedelta(days=1), ["worker_safety"], ward)
    assert oversight_services.concerns_arrival_check(now=START + timedelta(days=1)) == 1
    assert not Alert.objects.filter(concern=later).exists()
