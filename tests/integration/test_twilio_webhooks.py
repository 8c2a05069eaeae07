"""Twilio's webhooks: only requests Twilio signed for Candour's public address get in; a signed text
reaches the backend handler with its MessageSid every time it is sent, and Twilio gets empty TwiML (the
reply is a text of its own, sent by the worker); status callbacks in any order, late or twice, leave a
delivery at the most advanced status."""

from __future__ import annotations

import itertools
import logging
import random
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import pytest
from django.apps import apps
from django.http import QueryDict
from django.test import Client

from backend.concerns.models import InboundSms
from backend.concerns.sms import sms_inbound_process
from notifications.models import Delivery, DeliveryStatus
from tests.support.fake_twilio import inbound_params, new_sid, sign, status_callback_params

pytestmark = pytest.mark.django_db

TOKEN = "test-token-for-webhooks"
BASE = "https://candour.example"
SMS_PATH = "/twilio/sms/"
STATUS_PATH = "/twilio/status/"
NUMBER = "+447700900123"
ORG_NUMBER = "+447700900456"
TEXT = "The night staffing on ward 7 is unsafe and nobody listens"

# What the test handler saw, and what it answers: the backend's own dedup is its business, so this
# handler answers an id for the first sight of a MessageSid and None for a repeat, as the backend does.
calls: list[dict[str, str]] = []


def record_inbound(*, message_sid: str, from_number: str, to_number: str, body: str) -> int | None:
    calls.append({"message_sid": message_sid, "from_number": from_number, "to_number": to_number, "body": body})
    first = sum(1 for c in calls if c["message_sid"] == message_sid) == 1
    return len(calls) if first else None


def _empty_twiml(response: Any) -> bool:
    return bool(
        response.status_code == 200
        and response["Content-Type"].startswith("application/xml")
        and b"<Response />" in response.content
        and b"<Message" not in response.content
    )


@pytest.fixture(autouse=True)
def _twilio_settings(settings: Any) -> Any:
    settings.CANDOUR_BASE_URL = BASE
    settings.TWILIO_AUTH_TOKEN = TOKEN
    settings.CANDOUR_SMS_INBOUND_HANDLER = f"{__name__}.record_inbound"
    calls.clear()
    yield settings
    calls.clear()


def _post(path: str, params: dict[str, Any], signature: str | None, **extra: Any) -> Any:
    headers: dict[str, Any] = {} if signature is None else {"HTTP_X_TWILIO_SIGNATURE": signature}
    return Client().post(
        path, data=urlencode(params, doseq=True), content_type="application/x-www-form-urlencoded", **headers, **extra
    )


def _rows() -> dict[str, int]:
    """Every table's row count: a refused request must leave all of them as they were."""
    return {m._meta.label: m._default_manager.count() for m in apps.get_models()}


def _leaks(caplog: pytest.LogCaptureFixture, *secrets: str) -> list[str]:
    found = []
    for record in caplog.records:
        text = record.getMessage() + repr(record.args) + (record.exc_text or "")
        if any(s in text for s in secrets):
            found.append(text)
    return found


# -- forged and misdirected inbound texts -------------------------------------------------------------


def _forgeries() -> list[tuple[str, dict[str, str], str | None]]:
    params = inbound_params(from_=NUMBER, to=ORG_NUMBER, body=TEXT)
    right = BASE + SMS_PATH
    changed = {**params, "Body": TEXT + " (edited)"}
    extra = {**params, "NumMedia": "1"}
    return [
        ("no signature", params, None),
        ("empty signature", params, ""),
        ("wrong token", params, sign("not-the-token", right, params)),
        ("garbage", params, "c2lnbmF0dXJl"),
        ("a changed parameter", changed, sign(TOKEN, right, params)),
        ("an added parameter", extra, sign(TOKEN, right, params)),
        ("http, not https", params, sign(TOKEN, "http://candour.example" + SMS_PATH, params)),
        ("another host", params, sign(TOKEN, "https://evil.example" + SMS_PATH, params)),
        ("the Host header's address", params, sign(TOKEN, "http://testserver" + SMS_PATH, params)),
        ("another path", params, sign(TOKEN, BASE + STATUS_PATH, params)),
        ("a query not sent", params, sign(TOKEN, right + "?x=1", params)),
    ]


FORGERIES = _forgeries()


@pytest.mark.parametrize(("what", "params", "signature"), FORGERIES, ids=[f[0] for f in FORGERIES])
def test_a_forged_text_is_refused_and_leaves_no_trace(
    what: str, params: dict[str, str], signature: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    before = _rows()
    response = _post(SMS_PATH, params, signature)
    assert response.status_code == 403, what
    assert calls == []
    assert _rows() == before
    assert Delivery.objects.count() == before["notifications.Delivery"]
    assert _leaks(caplog, NUMBER, ORG_NUMBER, TEXT, params["MessageSid"]) == []
    assert any("refused" in r.getMessage() for r in caplog.records)  # the fact is logged, nothing more


def test_no_auth_token_refuses_everything(settings: Any) -> None:
    params = inbound_params(from_=NUMBER, to=ORG_NUMBER, body=TEXT)
    settings.TWILIO_AUTH_TOKEN = ""
    assert _post(SMS_PATH, params, sign("", BASE + SMS_PATH, params)).status_code == 403
    assert calls == []


def test_a_signed_text_reaches_the_handler_and_gets_empty_twiml() -> None:
    params = inbound_params(from_=NUMBER, to=ORG_NUMBER, body=TEXT)
    response = _post(SMS_PATH, params, sign(TOKEN, BASE + SMS_PATH, params))
    assert _empty_twiml(response)  # the reply goes out later, as a text of its own
    assert calls == [
        {"message_sid": params["MessageSid"], "from_number": NUMBER, "to_number": ORG_NUMBER, "body": TEXT}
    ]


def test_the_address_twilio_called_counts_not_the_host_header() -> None:
    # Behind a proxy Django sees its own host and http; the signature covers the public https URL.
    params = inbound_params(from_=NUMBER, to=ORG_NUMBER, body=TEXT)
    response = _post(SMS_PATH, params, sign(TOKEN, BASE + SMS_PATH, params), HTTP_HOST="localhost")
    assert response.status_code == 200
    # Twilio may sign with the default port spelled out; RequestValidator accepts both spellings.
    again = {**params, "MessageSid": new_sid()}
    assert _post(SMS_PATH, again, sign(TOKEN, "https://candour.example:443" + SMS_PATH, again)).status_code == 200


def test_a_query_string_is_part_of_the_signed_address() -> None:
    params = inbound_params(from_=NUMBER, to=ORG_NUMBER, body=TEXT)
    assert _post(SMS_PATH + "?org=7", params, sign(TOKEN, BASE + SMS_PATH + "?org=7", params)).status_code == 200
    assert _post(SMS_PATH + "?org=8", params, sign(TOKEN, BASE + SMS_PATH + "?org=7", params)).status_code == 403


def test_repeated_parameters_are_checked_in_full() -> None:
    # Twilio signs every value of a repeated parameter; checking only the last would refuse a real
    # request, and would check a smuggled value against less than was signed.
    params: dict[str, Any] = {**inbound_params(from_=NUMBER, to=ORG_NUMBER, body=TEXT), "MediaUrl": ["a", "b"]}
    signed = QueryDict(urlencode(params, doseq=True))
    assert _post(SMS_PATH, params, sign(TOKEN, BASE + SMS_PATH, signed)).status_code == 200
    smuggled = {**params, "MediaUrl": ["a", "b", "c"]}
    assert _post(SMS_PATH, smuggled, sign(TOKEN, BASE + SMS_PATH, signed)).status_code == 403


def test_the_same_text_ten_times_reaches_the_handler_ten_times_with_its_sid() -> None:
    params = inbound_params(from_=NUMBER, to=ORG_NUMBER, body=TEXT)
    signature = sign(TOKEN, BASE + SMS_PATH, params)
    replies = [_post(SMS_PATH, params, signature) for _ in range(10)]
    assert all(_empty_twiml(r) for r in replies)  # stored or not, Twilio hears the same
    assert len(calls) == 10
    assert {c["message_sid"] for c in calls} == {params["MessageSid"]}  # the handler can deduplicate on it


def test_only_post() -> None:
    assert Client().get(SMS_PATH).status_code == 405
    assert Client().get(STATUS_PATH).status_code == 405
    assert calls == []


def test_an_oversized_body_is_refused_before_anything_reads_it() -> None:
    params = inbound_params(from_=NUMBER, to=ORG_NUMBER, body="x" * (300 * 1024))
    response = _post(SMS_PATH, params, sign(TOKEN, BASE + SMS_PATH, params))
    assert response.status_code == 413
    assert calls == []


def test_the_real_backend_handler_stores_the_same_signed_text_ten_times_as_one(
    settings: Any, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    # The interface, end to end: the default CANDOUR_SMS_INBOUND_HANDLER stores the text once and
    # queues one processing task, however often Twilio calls; the worker then replies once.
    settings.CANDOUR_SMS_INBOUND_HANDLER = "backend.concerns.sms.sms_inbound_store"
    params = inbound_params(from_=NUMBER, to=ORG_NUMBER, body="HELP")
    signature = sign(TOKEN, BASE + SMS_PATH, params)
    with django_capture_on_commit_callbacks() as tasks:
        replies = [_post(SMS_PATH, params, signature) for _ in range(10)]
    assert all(_empty_twiml(r) for r in replies)
    assert len(tasks) == 1
    [inbound] = InboundSms.objects.all()
    assert inbound.message_sid == params["MessageSid"]
    assert sms_inbound_process(inbound_id=inbound.pk) == "replied"  # what that one task does
    [reply] = Delivery.objects.filter(channel="sms")
    assert reply.body.startswith("Candour: text your concern")


@pytest.mark.parametrize(("what", "params", "signature"), FORGERIES[:3], ids=[f[0] for f in FORGERIES[:3]])
def test_a_forged_text_reaches_nothing_of_the_real_backend(
    what: str,
    params: dict[str, str],
    signature: str | None,
    settings: Any,
    caplog: pytest.LogCaptureFixture,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    settings.CANDOUR_SMS_INBOUND_HANDLER = "backend.concerns.sms.sms_inbound_store"
    caplog.set_level(logging.DEBUG)
    before = _rows()
    with django_capture_on_commit_callbacks() as tasks:
        assert _post(SMS_PATH, params, signature).status_code == 403, what
    assert tasks == []  # no task queued
    assert _rows() == before  # no row
    assert _leaks(caplog, NUMBER, ORG_NUMBER, TEXT, params["MessageSid"]) == []


# -- status callbacks ----------------------------------------------------------------------------------


def _delivery(provider_id: str, status: str = DeliveryStatus.SENT) -> Delivery:
    return Delivery.objects.create(
        idempotency_key=f"test:{provider_id}",
        channel="sms",
        recipient="tok_abc",
        body="Candour: concern C-1 was acknowledged.",
        status=status,
        provider_id=provider_id,
    )


def _callback(sid: str, status: str, *, url: str = BASE + STATUS_PATH) -> int:
    params = status_callback_params(sid, status, to=NUMBER)
    return int(_post(STATUS_PATH, params, sign(TOKEN, url, params)).status_code)


@pytest.mark.parametrize(
    "order", list(itertools.permutations(["queued", "sending", "sent", "delivered"])), ids=lambda o: ">".join(o)
)
def test_callbacks_in_any_order_and_twice_end_delivered(order: tuple[str, ...]) -> None:
    delivery = _delivery(new_sid())
    for status in [*order, *order]:  # every one late, twice
        assert _callback(delivery.provider_id, status) == 204
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED
    assert delivery.sent_at is not None


@pytest.mark.parametrize("seed", range(10))
def test_a_failure_report_in_any_order_ends_undeliverable(seed: int) -> None:
    delivery = _delivery(new_sid())
    reports = ["queued", "sending", "sent", "failed", "sent", "failed", "undelivered", "queued"]
    random.Random(seed).shuffle(reports)
    for status in reports:
        assert _callback(delivery.provider_id, status) == 204
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.UNDELIVERABLE


def test_queued_and_sending_never_move_a_delivery_back_to_a_workers_hands() -> None:
    # "sending" means a worker holds the row; a callback that put it there would have the requeue
    # sweep take it for a dead worker and send the text again.
    delivery = _delivery(new_sid(), status=DeliveryStatus.SENT)
    for status in ("accepted", "queued", "sending", "scheduled", "something-new"):
        assert _callback(delivery.provider_id, status) == 204
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT


def test_a_callback_for_an_unknown_message_changes_nothing() -> None:
    delivery = _delivery(new_sid())
    assert _callback(new_sid(), "delivered") == 204
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT


@pytest.mark.parametrize(
    "url",
    ["http://candour.example" + STATUS_PATH, "https://evil.example" + STATUS_PATH, BASE + SMS_PATH],
    ids=["http", "another-host", "another-path"],
)
def test_a_forged_callback_is_refused_and_moves_nothing(url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    delivery = _delivery(new_sid())
    before = _rows()
    assert _callback(delivery.provider_id, "failed", url=url) == 403
    params = status_callback_params(delivery.provider_id, "failed", to=NUMBER)
    assert _post(STATUS_PATH, params, None).status_code == 403
    assert _post(STATUS_PATH, params, sign("not-the-token", BASE + STATUS_PATH, params)).status_code == 403
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT
    assert _rows() == before
    assert _leaks(caplog, NUMBER, delivery.provider_id) == []
