"""Intake abuse: raising is cheap for an attacker and costly for guardians, since every raise tells
them. A burst on one unit is never refused; past the first few e-mails of the hour, each guardian
gets one digest instead, while every concern is raised and every in-app notice stays in the inbox."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from backend.concerns import services
from backend.concerns.models import Concern
from backend.organisations.models import Organisation
from notifications.models import Delivery, DeliveryStatus
from notifications.services import NOT_YET, delivery_send

pytestmark = pytest.mark.django_db

AT = datetime(2026, 3, 10, 10, 5, tzinfo=UTC)
BURST = 12
FOLD_AFTER = 5  # CANDOUR_NOTICE_FOLD_AFTER's default


@pytest.fixture(autouse=True)
def _locmem_channels(settings: Any) -> None:
    locmem = "notifications.channels.locmem.LocmemChannel"
    settings.NOTIFICATIONS_CHANNELS = {"email": locmem, "sms": locmem, "in_app": locmem}
    assert settings.CANDOUR_NOTICE_FOLD_AFTER == FOLD_AFTER
    assert settings.CANDOUR_NOTICE_DIGEST_AFTER_SECONDS == 3600


def _raise(ward: Organisation, n: int, *, urgent: bool = False) -> Concern:
    draft = services.ConcernDraft(
        unit=ward,
        raiser_kind="staff",
        identity_mode="named",
        raiser_name=f"Raiser {n}",
        themes=["staffing"],
        what_happened=f"Burst concern {n}.",
        urgent=urgent,
    )
    return services.concern_raise(draft=draft, now=AT + timedelta(minutes=n)).concern


def _send_all(channel: str, now: datetime) -> dict[str, int]:
    outcomes: dict[str, int] = {}
    for pk in Delivery.objects.filter(channel=channel).order_by("pk").values_list("pk", flat=True):
        outcome = delivery_send(delivery_id=pk, now=now)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes


def test_a_burst_on_one_unit_is_raised_in_full_and_told_as_a_digest(ward: Organisation) -> None:
    concerns = [_raise(ward, n) for n in range(BURST)]
    assert Concern.objects.filter(unit=ward).count() == BURST  # nothing refused
    guardians = {d.recipient for d in Delivery.objects.filter(channel="email", idempotency_key__startswith="raised:")}
    assert guardians, "the ward has guardians who take e-mail"
    sent_at = AT + timedelta(minutes=BURST)
    _send_all("email", sent_at)
    for guardian in guardians:
        mine = Delivery.objects.filter(channel="email", recipient=guardian, idempotency_key__startswith="raised:")
        assert mine.filter(status=DeliveryStatus.SENT).count() == FOLD_AFTER
        assert mine.filter(status=DeliveryStatus.FOLDED).count() == BURST - FOLD_AFTER
        digest = Delivery.objects.get(channel="email", recipient=guardian, idempotency_key__startswith="digest:")
        assert digest.status == DeliveryStatus.PENDING and digest.not_before == sent_at + timedelta(hours=1)
        assert "more notices" in digest.subject.lower()
    # Every concern is in every guardian's inbox, folded or not.
    in_app = Delivery.objects.filter(channel="in_app", idempotency_key__startswith="raised:")
    assert in_app.count() == BURST * len({d.recipient for d in in_app})
    assert not in_app.filter(status=DeliveryStatus.FOLDED).exists()
    assert {c.pk for c in concerns} == set(Concern.objects.filter(unit=ward).values_list("pk", flat=True))

    # The digest waits its hour, then goes once; a second sweep sends nothing more.
    digests = Delivery.objects.filter(idempotency_key__startswith="digest:")
    assert {delivery_send(delivery_id=d.pk, now=sent_at) for d in digests} == {NOT_YET}
    for d in digests:
        delivery_send(delivery_id=d.pk, now=sent_at + timedelta(hours=1, minutes=1))
    assert set(digests.values_list("status", flat=True)) == {DeliveryStatus.SENT}
    assert digests.count() == len(guardians)


def test_a_few_concerns_are_each_told_and_an_urgent_one_is_never_folded(ward: Organisation) -> None:
    for n in range(FOLD_AFTER):
        _raise(ward, n)
    urgent = _raise(ward, 30, urgent=True)
    _send_all("email", AT + timedelta(hours=1))
    assert not Delivery.objects.filter(status=DeliveryStatus.FOLDED).exists()
    assert not Delivery.objects.filter(idempotency_key__startswith="digest:").exists()
    # Past the ceiling, an urgent concern's notice still goes on its own, at once.
    for n in range(FOLD_AFTER, FOLD_AFTER + 3):
        _raise(ward, n)
    late_urgent = _raise(ward, 40, urgent=True)
    _send_all("email", AT + timedelta(hours=1))
    for concern in (urgent, late_urgent):
        notices = Delivery.objects.filter(channel="email", idempotency_key__startswith=f"raised:{concern.pk}:")
        assert notices and {d.status for d in notices} == {DeliveryStatus.SENT}
    assert Delivery.objects.filter(status=DeliveryStatus.FOLDED).exists()


def test_the_next_hour_starts_a_new_fold(ward: Organisation) -> None:
    for n in range(FOLD_AFTER + 2):
        _raise(ward, n)
    _send_all("email", AT + timedelta(minutes=30))
    next_hour = services.concern_raise(
        draft=services.ConcernDraft(
            unit=ward,
            raiser_kind="staff",
            identity_mode="named",
            raiser_name="Later",
            themes=["staffing"],
            what_happened="An hour on.",
        ),
        now=AT + timedelta(hours=1),
    ).concern
    _send_all("email", AT + timedelta(hours=1, minutes=1))
    notices = Delivery.objects.filter(channel="email", idempotency_key__startswith=f"raised:{next_hour.pk}:")
    assert notices and {d.status for d in notices} == {DeliveryStatus.SENT}
