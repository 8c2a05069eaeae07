"""Outages of the outside world: e-mail and Twilio down for a simulated day (time travel).

The real channels talk to a local mail server (tests/support/fake_smtp.py) and the fake Twilio, both
taken down: every attempt fails. The test plays the beat and a worker in this process: once a
simulated minute it runs the requeue sweep's task, then every task that was sent (published nowhere:
tests/support/sent_tasks.py), as a worker would. When both come back every notice arrives exactly
once (counted at the fake servers), none lost, none doubled; in-app notices were in their inboxes
throughout. An outage longer than CANDOUR_DELIVERY_GIVE_UP_HOURS gives the notices up: counted on
the oversight dashboard, nothing sent once the servers return, the in-app notices still there.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from celery import current_app
from django.contrib.auth import get_user_model

import notifications.tasks  # noqa: F401  (registers the tasks the "worker" below runs by name)
from backend.oversight.selectors import oversight_dashboard
from notifications.models import Channel, Delivery, DeliveryStatus
from notifications.services import RETRY_CAP, DeliveryRequest, deliveries_create, deliveries_in_app_unread
from tests.support.fake_smtp import FakeSmtp
from tests.support.fake_twilio import FakeTwilio
from tests.support.sent_tasks import tasks_sent

pytestmark = pytest.mark.django_db(transaction=True)

START = datetime(2026, 11, 30, 13, 0, tzinfo=UTC)
NOTICES = 12
NUMBERS = {f"tok_raiser_{i}": f"+4477009{i:05d}" for i in range(NOTICES)}
REQUEUE_TASK = "notifications.tasks.deliveries_requeue_stale"


def resolve(token: str) -> str | None:
    """Stands in for the contact vault (backend.concerns.vault.vault_number_for_token)."""
    return NUMBERS.get(token)


@pytest.fixture
def outside(settings: Any) -> Iterator[tuple[FakeTwilio, FakeSmtp]]:
    with FakeTwilio(account_sid="ACfake", auth_token="fake-token") as twilio, FakeSmtp() as mail:
        settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = twilio.account_sid, twilio.auth_token
        settings.TWILIO_API_BASE_URL = twilio.base_url
        settings.TWILIO_DEFAULT_FROM = "+447700900000"
        settings.TWILIO_MESSAGING_SERVICE_SID = ""
        settings.TWILIO_STATUS_CALLBACK = False
        settings.NOTIFICATIONS_SMS_RESOLVER = f"{__name__}.resolve"
        settings.NOTIFICATIONS_CHANNELS = None  # the real channels: SMTP, Twilio, in-app
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS = mail.host, mail.port, False
        settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
        settings.EMAIL_TIMEOUT = 5
        settings.CANDOUR_REQUEUE_AFTER_SECONDS = 120
        yield twilio, mail


def _notices() -> list[DeliveryRequest]:
    """For each of NOTICES changes: an e-mail and an in-app notice to a guardian, a text to a raiser."""
    requests = []
    for i in range(NOTICES):
        requests += [
            DeliveryRequest(
                idempotency_key=f"outage:{i}:email",
                channel=Channel.EMAIL,
                recipient=f"guardian{i}@example.org",
                subject="Candour: 1 concern needs acknowledging",
                body="1 concern needs acknowledging: https://candour.example/inbox/",
            ),
            DeliveryRequest(
                idempotency_key=f"outage:{i}:in_app", channel=Channel.IN_APP, recipient=str(1000 + i), body="1 concern"
            ),
            DeliveryRequest(
                idempotency_key=f"outage:{i}:sms",
                channel=Channel.SMS,
                recipient=f"tok_raiser_{i}",
                body="Candour: your concern was acknowledged.",
                private=True,
            ),
        ]
    return requests


def _work(sent: list[tuple[str, list[Any]]]) -> int:
    """A worker: run every task sent so far (and those they send), by name, in this process."""
    ran = 0
    while sent:
        name, args = sent.pop(0)
        current_app.tasks[name].apply(args=args, throw=True)
        ran += 1
    return ran


def _live(traveller: Any, sent: list[tuple[str, list[Any]]], *, minutes: int) -> None:
    """The beat runs the requeue sweep once a minute (CANDOUR_REQUEUE_SECONDS); a worker runs what it sends."""
    for _ in range(minutes):
        traveller.shift(timedelta(minutes=1))
        sent.append((REQUEUE_TASK, []))
        _work(sent)


def _raise_notices(sent: list[tuple[str, list[Any]]]) -> None:
    # Written in one transaction, sent after commit, as every caller does.
    deliveries_create(requests=_notices())
    _work(sent)


def test_a_day_without_email_or_twilio_delays_notices_and_loses_none(outside: tuple[FakeTwilio, FakeSmtp]) -> None:
    twilio, mail = outside
    twilio.down(status=503)
    mail.down()
    with time_machine.travel(START, tick=False) as traveller, tasks_sent() as sent:
        _raise_notices(sent)
        # In-app notices are in their inboxes at once, outage or not.
        assert all(len(deliveries_in_app_unread(recipient=str(1000 + i))) == 1 for i in range(NOTICES))
        _live(traveller, sent, minutes=24 * 60)

        failed = Delivery.objects.filter(status=DeliveryStatus.FAILED)
        assert failed.count() == 2 * NOTICES  # every e-mail and text waiting, none given up
        attempts = sorted(failed.values_list("attempts", flat=True))
        # Backing off to once an hour: a day is tens of tries each, not one a minute. Jitter shortens a
        # wait by up to half, so at the cap a try comes every 30 to 60 minutes: after the 7 doublings
        # (30 s to 32 min), at most 24 h / 30 min = 48 more; at fewest, one an hour and a minute.
        most = 7 + int(timedelta(hours=24) / (RETRY_CAP / 2))
        assert attempts[0] >= 20 and attempts[-1] <= most
        assert set(failed.values_list("last_error", flat=True)) <= {
            "SMTPConnectError 421",
            "ChannelError: twilio http 503 code 503",
        }
        assert twilio.messages == [] and mail.received == []
        tried_sms, refused_mail = len(twilio.requests), mail.refused

        twilio.up()
        mail.up()
        # At most an hour (RETRY_CAP) after they come back, everything has gone.
        _live(traveller, sent, minutes=61)

    texts = Counter(m["To"] for m in twilio.messages)
    assert texts == Counter({number: 1 for number in NUMBERS.values()})  # each raiser texted once
    assert Counter(mail.recipients()) == Counter({f"guardian{i}@example.org": 1 for i in range(NOTICES)})
    statuses = Counter(Delivery.objects.values_list("channel", "status"))
    assert statuses == {
        (Channel.EMAIL, DeliveryStatus.SENT): NOTICES,
        (Channel.SMS, DeliveryStatus.SENT): NOTICES,
        (Channel.IN_APP, DeliveryStatus.DELIVERED): NOTICES,
    }
    print(
        f"\noutage of 24 h: {tried_sms} Twilio attempts refused and {refused_mail} SMTP connections refused "
        f"for {2 * NOTICES} notices; after: {len(twilio.messages)} texts, {len(mail.received)} e-mails"
    )


def test_an_outage_past_the_give_up_window_is_counted_and_the_in_app_notice_stands(
    outside: tuple[FakeTwilio, FakeSmtp], settings: Any, demo: None
) -> None:
    settings.CANDOUR_DELIVERY_GIVE_UP_HOURS = 3
    twilio, mail = outside
    twilio.down(status=503)
    mail.down()
    governor = get_user_model().objects.get(username="governor")
    with time_machine.travel(START, tick=False) as traveller, tasks_sent() as sent:
        before = oversight_dashboard(user=governor).notices_not_sent
        _raise_notices(sent)
        _live(traveller, sent, minutes=4 * 60)
        given_up = Delivery.objects.filter(status=DeliveryStatus.UNDELIVERABLE)
        assert given_up.count() == 2 * NOTICES
        assert {e.split(":")[0] for e in given_up.values_list("last_error", flat=True)} == {"gave up after 3 hours"}
        # Nothing private is left in a given-up row: no raiser's words, no vault token.
        assert not given_up.filter(channel=Channel.SMS).exclude(body="", recipient="").exists()
        assert oversight_dashboard(user=governor).notices_not_sent == before + 2 * NOTICES

        twilio.up()
        mail.up()
        _live(traveller, sent, minutes=120)
        assert twilio.messages == [] and mail.received == []  # given up means not sent late
        assert all(len(deliveries_in_app_unread(recipient=str(1000 + i))) == 1 for i in range(NOTICES))
