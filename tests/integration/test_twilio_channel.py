"""The Twilio SMS channel against a local fake Twilio: the number comes from the resolver at send time,
reaches Twilio and nothing else; 5xx, timeouts and resets are retried and the text goes out once;
Twilio's refusals give the delivery up; status callbacks from "Twilio" move it on over real HTTP."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from notifications.channels.registry import channel_get
from notifications.channels.twilio_sms import TwilioSmsChannel
from notifications.models import Delivery, DeliveryStatus
from notifications.services import delivery_send
from tests.support.fake_twilio import FakeTwilio, channel_settings
from tests.support.processes import free_port, wait_for

pytestmark = pytest.mark.django_db

NUMBER = "+447700900123"
TOKEN_WITH_NUMBER = "tok_raiser_1"
TOKEN_PURGED = "tok_purged"
BODY = "Candour: concern C-1 was acknowledged. Text STATUS for news."
NUMBERS = {TOKEN_WITH_NUMBER: NUMBER}
resolved: list[str] = []


def resolve(token: str) -> str | None:
    """Stands in for the contact vault (backend.concerns.vault.vault_number_for_token)."""
    resolved.append(token)
    return NUMBERS.get(token)


@pytest.fixture
def fake(settings: Any) -> Iterator[FakeTwilio]:
    with FakeTwilio(account_sid="ACfake", auth_token="fake-token") as server:
        channel_settings(settings, server, status_callback=True)
        settings.CANDOUR_BASE_URL = "https://candour.example"
        settings.NOTIFICATIONS_SMS_RESOLVER = f"{__name__}.resolve"
        resolved.clear()
        yield server


def _delivery(recipient: str = TOKEN_WITH_NUMBER, key: str = "acknowledged:1:sms") -> Delivery:
    return Delivery.objects.create(idempotency_key=key, channel="sms", recipient=recipient, body=BODY)


def _send_until_settled(delivery: Delivery, *, attempts: int = 10) -> list[str]:
    """What the sweep does: call delivery_send again after each failed attempt (without its wait)."""
    outcomes = []
    for _ in range(attempts):
        outcome = delivery_send(delivery_id=delivery.pk)
        if outcome != DeliveryStatus.FAILED:
            outcomes.append(outcome)
            break
        outcomes.append("retry")
    return outcomes


def _leaks(caplog: pytest.LogCaptureFixture, *secrets: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if any(s in r.getMessage() + repr(r.args) + (r.exc_text or "") for s in secrets)
    ]


def test_sms_goes_through_twilio_by_default(fake: FakeTwilio) -> None:
    assert isinstance(channel_get("sms"), TwilioSmsChannel)


def test_a_delivery_reaches_twilio_with_the_resolved_number(fake: FakeTwilio, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    delivery = _delivery()
    assert delivery_send(delivery_id=delivery.pk) == DeliveryStatus.SENT
    [message] = fake.messages
    assert message["To"] == NUMBER
    assert message["From"] == "+447700900000"
    assert message["Body"] == BODY
    assert message["StatusCallback"] == "https://candour.example/twilio/status/"
    assert resolved == [TOKEN_WITH_NUMBER]
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT
    assert delivery.provider_id == message["sid"]
    assert delivery.provider_id.startswith("SM")
    assert NUMBER not in str(Delivery.objects.filter(pk=delivery.pk).values().get())  # the row keeps the token
    assert _leaks(caplog, NUMBER, BODY) == []


def test_a_messaging_service_picks_the_sender(fake: FakeTwilio, settings: Any) -> None:
    settings.TWILIO_MESSAGING_SERVICE_SID = "MGfake"
    settings.TWILIO_STATUS_CALLBACK = False
    assert delivery_send(delivery_id=_delivery().pk) == DeliveryStatus.SENT
    [message] = fake.messages
    assert message["MessagingServiceSid"] == "MGfake"
    assert "From" not in message
    assert "StatusCallback" not in message


def test_a_raisers_text_comes_from_the_number_they_texted_and_its_words_leave_the_outbox(
    fake: FakeTwilio, settings: Any
) -> None:
    # Even with a Messaging Service: a raiser's reply must reach the body they texted, not any number.
    settings.TWILIO_MESSAGING_SERVICE_SID = "MGfake"
    receipt_text = "Candour: your receipt code is RCPT-CANARY-42."
    delivery = Delivery.objects.create(
        idempotency_key="sms:reply:1",
        channel="sms",
        recipient=TOKEN_WITH_NUMBER,
        body=receipt_text,
        private=True,
        sender="+447700900101",
    )
    assert delivery_send(delivery_id=delivery.pk) == DeliveryStatus.SENT
    [message] = fake.messages
    assert (message["From"], message["Body"]) == ("+447700900101", receipt_text)
    assert "MessagingServiceSid" not in message
    delivery.refresh_from_db()
    assert delivery.body == ""  # Twilio has it; the outbox no longer does
    assert "RCPT-CANARY-42" not in str(Delivery.objects.values().get(pk=delivery.pk))


def test_a_private_text_given_up_is_erased_too(fake: FakeTwilio) -> None:
    fake.fail_next(1, status=400, code=21610)
    delivery = Delivery.objects.create(
        idempotency_key="sms:reply:2", channel="sms", recipient=TOKEN_WITH_NUMBER, body="RCPT-CANARY-43", private=True
    )
    assert _send_until_settled(delivery) == [DeliveryStatus.UNDELIVERABLE]
    delivery.refresh_from_db()
    assert (delivery.status, delivery.body) == (DeliveryStatus.UNDELIVERABLE, "")
    # A staff notice is not private: its counts and links stay for the admin to read.
    staff = _delivery(key="acknowledged:2:sms")
    assert delivery_send(delivery_id=staff.pk) == DeliveryStatus.SENT
    staff.refresh_from_db()
    assert staff.body == BODY


def test_a_purged_number_is_undeliverable_without_calling_twilio(fake: FakeTwilio) -> None:
    delivery = _delivery(recipient=TOKEN_PURGED)
    assert delivery_send(delivery_id=delivery.pk) == DeliveryStatus.UNDELIVERABLE
    assert fake.requests == []
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.UNDELIVERABLE
    assert delivery.attempts == 1


def test_server_errors_are_retried_and_the_text_goes_out_once(
    fake: FakeTwilio, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.fail_next(3, status=500)
    delivery = _delivery()
    assert _send_until_settled(delivery) == ["retry", "retry", "retry", DeliveryStatus.SENT]
    assert len(fake.requests) == 4
    assert len(fake.messages) == 1
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT
    assert delivery.attempts == 4
    assert delivery.provider_id == fake.messages[0]["sid"]
    assert "500" in delivery.last_error
    assert NUMBER not in delivery.last_error
    assert _leaks(caplog, NUMBER, BODY) == []
    # The task finds it sent and does not send it again.
    assert delivery_send(delivery_id=delivery.pk) == DeliveryStatus.SENT
    assert len(fake.requests) == 4


@pytest.mark.parametrize(("status", "code"), [(503, 20503), (429, 20429), (401, 20003)])
def test_transient_refusals_are_retried(fake: FakeTwilio, status: int, code: int) -> None:
    fake.fail_next(1, status=status, code=code)
    assert _send_until_settled(_delivery()) == ["retry", DeliveryStatus.SENT]
    assert len(fake.messages) == 1


@pytest.mark.parametrize("code", [21610, 21211, 21614])
def test_twilios_refusal_gives_the_delivery_up(fake: FakeTwilio, code: int) -> None:
    # 21610: the recipient texted STOP; 21211: not a valid number; 21614: not a mobile.
    fake.fail_next(1, status=400, code=code)
    delivery = _delivery()
    assert _send_until_settled(delivery) == [DeliveryStatus.UNDELIVERABLE]
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.UNDELIVERABLE
    assert str(code) in delivery.last_error
    assert NUMBER not in delivery.last_error
    assert fake.messages == []


def test_wrong_credentials_are_retried_not_given_up(fake: FakeTwilio, settings: Any) -> None:
    settings.TWILIO_AUTH_TOKEN = "wrong"
    delivery = _delivery()
    assert _send_until_settled(delivery, attempts=1) == ["retry"]
    settings.TWILIO_AUTH_TOKEN = fake.auth_token  # the operator fixes the setting
    assert _send_until_settled(delivery) == [DeliveryStatus.SENT]
    assert len(fake.messages) == 1


def test_timeouts_are_retried_and_the_text_goes_out_once(fake: FakeTwilio, settings: Any) -> None:
    settings.TWILIO_HTTP_TIMEOUT = 0.3
    fake.hang_next(2, seconds=1.5)
    delivery = _delivery()
    assert _send_until_settled(delivery) == ["retry", "retry", DeliveryStatus.SENT]
    assert len(fake.requests) == 3
    assert len(fake.messages) == 1
    delivery.refresh_from_db()
    assert delivery.last_error.endswith("twilio timed out")


def test_a_dropped_connection_is_retried(fake: FakeTwilio) -> None:
    fake.hang_next(1, seconds=0)  # answered with nothing: the connection closes
    assert _send_until_settled(_delivery()) == ["retry", DeliveryStatus.SENT]
    assert len(fake.messages) == 1


def test_an_unreachable_twilio_is_retried(fake: FakeTwilio, settings: Any) -> None:
    settings.TWILIO_API_BASE_URL = f"http://127.0.0.1:{free_port()}"
    delivery = _delivery()
    assert _send_until_settled(delivery, attempts=1) == ["retry"]
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert "unreachable" in delivery.last_error


def test_a_retry_before_twilio_has_the_first_attempt_sends_twice(fake: FakeTwilio, settings: Any) -> None:
    # At least once, by design: Twilio's API takes no idempotency key, so a reply lost after Twilio
    # took the text looks like a failure, and a retry made before Twilio holds the first finds
    # nothing there and sends it again. (Deployed, a retry waits 30 s at least.)
    settings.TWILIO_HTTP_TIMEOUT = 0.3
    fake.hang_next(1, seconds=1.0, accept=True)
    assert _send_until_settled(_delivery()) == ["retry", DeliveryStatus.SENT]
    wait_for(lambda: len(fake.messages) == 2, timeout=5, what="the held message to be accepted")


def test_a_timeout_after_twilio_accepted_is_found_there_not_sent_again(
    fake: FakeTwilio, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings.TWILIO_HTTP_TIMEOUT = 0.3
    fake.hang_next(1, seconds=0.8, accept=True)
    delivery = _delivery()
    assert delivery_send(delivery_id=delivery.pk) == DeliveryStatus.FAILED  # the answer was lost
    wait_for(lambda: len(fake.messages) == 1, timeout=5, what="Twilio to have the first attempt")
    caplog.set_level(logging.INFO, logger="notifications")

    assert delivery_send(delivery_id=delivery.pk) == DeliveryStatus.SENT
    delivery.refresh_from_db()
    assert delivery.provider_id == fake.messages[0]["sid"] and delivery.attempts == 2
    assert len(fake.messages) == 1, "sent twice"
    assert any("at the provider already" in r.getMessage() for r in caplog.records)
    assert not _leaks(caplog, NUMBER, BODY)


def test_a_text_another_delivery_recorded_is_not_taken_for_this_one(fake: FakeTwilio) -> None:
    # The same words to the same number, twice (two notices alike): the second delivery's earlier
    # attempt failed outright, and the message Twilio holds is the first delivery's, so it is sent.
    first = _delivery(key="alike:1:sms")
    assert delivery_send(delivery_id=first.pk) == DeliveryStatus.SENT
    second = _delivery(key="alike:2:sms")
    fake.fail_next(1, status=500)
    assert delivery_send(delivery_id=second.pk) == DeliveryStatus.FAILED
    assert delivery_send(delivery_id=second.pk) == DeliveryStatus.SENT
    first.refresh_from_db()
    second.refresh_from_db()
    assert len(fake.messages) == 2 and second.provider_id == fake.messages[1]["sid"] != first.provider_id


@pytest.mark.django_db(transaction=True)
def test_twilios_status_callbacks_move_the_delivery_to_delivered(
    fake: FakeTwilio, settings: Any, live_server: Any
) -> None:
    # Over real HTTP: the fake reports sent, then delivered, to the StatusCallback it was given,
    # signed for that address, as Twilio does.
    settings.CANDOUR_BASE_URL = live_server.url
    fake.auto_callbacks = True
    delivery = _delivery()
    assert delivery_send(delivery_id=delivery.pk) == DeliveryStatus.SENT
    wait_for(lambda: len(fake.callbacks) == 2, timeout=10, what="two status callbacks")
    assert [code for _, _, code in fake.callbacks] == [204, 204]
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED


@pytest.mark.django_db(transaction=True)
def test_an_inbound_text_over_real_http(fake: FakeTwilio, settings: Any, live_server: Any) -> None:
    from tests.integration import test_twilio_webhooks as hooks

    settings.CANDOUR_BASE_URL = live_server.url
    settings.CANDOUR_SMS_INBOUND_HANDLER = "tests.integration.test_twilio_webhooks.record_inbound"
    hooks.calls.clear()
    status, twiml = fake.send_inbound(live_server.url + "/twilio/sms/", from_=NUMBER, to="+447700900456", body="hi")
    assert status == 200
    assert "<Response />" in twiml and "<Message" not in twiml  # the reply is a text of its own, later
    assert [c["from_number"] for c in hooks.calls] == [NUMBER]
    hooks.calls.clear()


def test_the_real_vault_resolves_at_send_time(fake: FakeTwilio, settings: Any) -> None:
    # The interface, end to end: the default resolver is the contact vault.
    from backend.concerns.crypto import ContactSpace
    from backend.concerns.vault import vault_store

    settings.NOTIFICATIONS_SMS_RESOLVER = "backend.concerns.vault.vault_number_for_token"
    token = vault_store(number="07700 900789", now=datetime(2025, 1, 6, tzinfo=UTC), space=ContactSpace.RAISER)
    assert "900789" not in token
    delivery = _delivery(recipient=token)
    assert delivery_send(delivery_id=delivery.pk) == DeliveryStatus.SENT
    [message] = fake.messages
    assert message["To"].endswith("7700900789")
