"""SMS through Twilio's Messages API: the only module that imports ``twilio.rest``.

A Delivery's recipient is an opaque contact-vault token, never a number. The number is asked for at
the moment of sending, through the function named by NOTIFICATIONS_SMS_RESOLVER (``token -> number
or None``), loaded by path so notifications never imports the backend. None means the vault no
longer holds the number (purged at closure, or the raiser texted STOP): the delivery is given up.

The number and the words go to Twilio and nowhere else: not to the log, not to ``last_error`` (a
channel error carries the HTTP status and Twilio's error code only), not to an exception message.

Errors: a timeout, a refused connection, a 5xx, 429 (rate limited) or 401 (our credentials, which
an operator can fix) fail the attempt, and Celery tries again with backoff; any other 4xx is
Twilio refusing this message for good (21610: the recipient texted STOP; 21211: not a valid
number) and the delivery becomes undeliverable at once.

Sending is at least once: a timeout after Twilio accepted the message looks like a failure, and a
worker killed between Twilio's accept and the row's record leaves the row in sending. Twilio's
Messages API has no idempotency key to prevent a second send, so before a delivery is sent again
``sent_already`` looks at the newest messages to its number for one with its sender and words, made
since its row was written, that no other delivery recorded; found, it is recorded instead of sent.
Only when Twilio cannot say (an outage) is it sent again regardless.

Twilio keeps every message's body, in and out, until asked to forget it: ``redact`` POSTs an empty
Body to the Message resource (Twilio refuses, with error 30400, until the message has its final
status) and deletes an inbound message's media through its Media sub-resource. Twilio may keep
bodies in its backups for up to 30 days after (DOMAIN.md). A copy of a text the at-least-once retry
sent twice has a sid Candour never learnt, so that copy is not redacted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse
from django.utils.module_loading import import_string
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from notifications.channels.base import ChannelError, ChannelResult, NotFinalYet, PermanentChannelError
from notifications.models import Delivery, DeliveryStatus

logger = logging.getLogger(__name__)

# Longer than any healthy call to Twilio, far shorter than the requeue sweep's threshold (a send that
# outlives it is taken for a dead worker and sent again).
DEFAULT_TIMEOUT_SECONDS = 15.0
# Before sending again a text whose earlier attempt may have reached Twilio: how many of the newest
# messages to its number are looked at, and how far before the delivery's row a message may be dated
# (Twilio's clock against ours).
RECONCILE_LOOKBACK = 20
RECONCILE_CLOCK_SKEW = timedelta(minutes=2)
# 4xx statuses that say "not now" rather than "never".
RETRYABLE_CLIENT_STATUSES = frozenset({401, 408, 409, 429})
# Twilio's answer to a redaction before the message has its final status (delivered, undelivered,
# failed; received for an inbound text).
NOT_FINAL_CODE = 30400


class CandourHttpClient(TwilioHttpClient):
    """Twilio's HTTP client, with two changes.

    With ``base_url`` every request goes to that scheme and host (a local fake server in development
    and tests), path and query kept: Twilio's own ``edge``/``region`` only rewrite ``*.twilio.com``.
    And it logs one DEBUG line per call instead of the SDK's eight INFO lines of headers."""

    def __init__(self, *, base_url: str = "", timeout: float) -> None:
        super().__init__(timeout=timeout, logger=logger)
        self._target: tuple[str, str] | None = None
        if base_url:
            target = urlsplit(base_url)
            if target.scheme not in ("http", "https") or not target.netloc:
                raise ImproperlyConfigured("TWILIO_API_BASE_URL must be an http(s) URL, such as http://127.0.0.1:8025")
            self._target = (target.scheme, target.netloc)

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        if self._target is not None:
            parts = urlsplit(url)
            url = urlunsplit((*self._target, parts.path, parts.query, ""))
        return super().request(method, url, *args, **kwargs)

    def log_request(self, kwargs: dict[str, Any]) -> None:
        # The method and URL only (the URL names the account and resource, never the recipient).
        logger.debug("twilio api %s %s", kwargs.get("method"), kwargs.get("url"))

    def log_response(self, status_code: int, response: Any) -> None:
        logger.debug("twilio api answered %s", status_code)


@lru_cache(maxsize=8)
def _client(account_sid: str, auth_token: str, base_url: str, timeout: float) -> Client:
    # One client (and one pooled HTTP session) per configuration and process; keyed on the settings'
    # values, so override_settings in tests gets a client of its own.
    return Client(account_sid, auth_token, http_client=CandourHttpClient(base_url=base_url, timeout=timeout))


def twilio_client() -> Client:
    account_sid = getattr(settings, "TWILIO_ACCOUNT_SID", "")
    auth_token = getattr(settings, "TWILIO_AUTH_TOKEN", "")
    if not account_sid or not auth_token:
        # Retryable: an operator who sets the credentials gets the waiting messages sent.
        raise ChannelError("twilio not configured")
    timeout = float(getattr(settings, "TWILIO_HTTP_TIMEOUT", 0) or DEFAULT_TIMEOUT_SECONDS)
    return _client(account_sid, auth_token, getattr(settings, "TWILIO_API_BASE_URL", ""), timeout)


def sms_number_for(token: str) -> str | None:
    """The number behind a contact token, from the resolver NOTIFICATIONS_SMS_RESOLVER names."""
    path = getattr(settings, "NOTIFICATIONS_SMS_RESOLVER", "")
    if not path:
        raise ImproperlyConfigured("NOTIFICATIONS_SMS_RESOLVER names no function: SMS recipients cannot be resolved")
    resolver: Callable[[str], str | None] = import_string(path)
    return resolver(token)


def status_callback_url() -> str | None:
    """Where Twilio reports what became of a message, or None when callbacks are off (a base URL
    Twilio cannot reach, say)."""
    if not getattr(settings, "TWILIO_STATUS_CALLBACK", False):
        return None
    return settings.CANDOUR_BASE_URL.rstrip("/") + reverse("notifications:twilio-status")


def _sender(delivery: Delivery) -> dict[str, str]:
    # A raiser's reply comes from the organisation number they texted, so that their next text
    # reaches the same body. Otherwise a Messaging Service picks the sending number itself ("sticky
    # sender": one recipient always hears from the same number), or the one default number does.
    if delivery.sender:
        return {"from_": delivery.sender}
    service = getattr(settings, "TWILIO_MESSAGING_SERVICE_SID", "")
    if service:
        return {"messaging_service_sid": service}
    from_number = getattr(settings, "TWILIO_DEFAULT_FROM", "")
    if not from_number:
        raise ChannelError("twilio has no sender: set TWILIO_DEFAULT_FROM")
    return {"from_": from_number}


def _channel_error(exc: TwilioException) -> ChannelError:
    """Twilio's answer as a status and code only: its message quotes the number."""
    status = getattr(exc, "status", None)
    code = getattr(exc, "code", None)
    reason = f"twilio http {status} code {code}"
    if isinstance(status, int) and 400 <= status < 500 and status not in RETRYABLE_CLIENT_STATUSES:
        return PermanentChannelError(reason)
    return ChannelError(reason)


class TwilioSmsChannel:
    def send(self, delivery: Delivery) -> ChannelResult:
        number = sms_number_for(delivery.recipient)
        if not number:
            raise PermanentChannelError("no number for this contact token (purged or opted out)")
        client = twilio_client()
        params: dict[str, Any] = {"to": number, "body": delivery.body, **_sender(delivery)}
        callback = status_callback_url()
        if callback:
            params["status_callback"] = callback
        try:
            message = client.messages.create(**params)
        except TwilioException as exc:
            raise _channel_error(exc) from None
        except requests.Timeout:
            raise ChannelError("twilio timed out") from None
        except requests.RequestException as exc:
            # Class name only: requests' messages carry the URL, and some carry the request.
            raise ChannelError(f"twilio unreachable: {type(exc).__name__}") from None
        if not message.sid:
            raise ChannelError("twilio answered without a message sid")
        logger.info("delivery id=%s handed to twilio sid=%s", delivery.pk, message.sid)
        return ChannelResult(provider_id=str(message.sid), status=DeliveryStatus.SENT)

    def sent_already(self, delivery: Delivery) -> list[str]:
        number = sms_number_for(delivery.recipient)
        if not number or not delivery.body:
            return []
        client = twilio_client()
        try:
            # Newest first; an earlier attempt of this delivery is among the last few to its number.
            messages = client.messages.list(to=number, limit=RECONCILE_LOOKBACK)
        except TwilioException as exc:
            raise _channel_error(exc) from None
        except requests.RequestException as exc:
            raise ChannelError(f"twilio unreachable: {type(exc).__name__}") from None
        since = delivery.created_at - RECONCILE_CLOCK_SKEW
        return [
            str(m.sid)
            for m in messages
            if m.body == delivery.body
            and str(m.direction or "").startswith("outbound")
            and (not delivery.sender or m.from_ == delivery.sender)
            and (m.date_created is None or m.date_created >= since)
        ]

    def redact(self, provider_id: str, *, inbound: bool) -> bool:
        client = twilio_client()
        try:
            try:
                message = client.messages(provider_id).update(body="")
            except TwilioRestException as exc:
                if exc.status == 404:
                    return False  # Twilio holds no such message (deleted): nothing left to forget
                if exc.code == NOT_FINAL_CODE:
                    raise NotFinalYet(f"twilio http {exc.status} code {exc.code}") from None
                raise
            if message.body:
                raise ChannelError("twilio answered the redaction with the body kept")
            if inbound:
                # A raiser's photo stays at Twilio (at an address anyone holding it can open) until
                # deleted. Candour sends no media, so only inbound texts are asked for theirs.
                for media in client.messages(provider_id).media.list():
                    _media_delete(client, provider_id, str(media.sid))
        except TwilioException as exc:
            raise _channel_error(exc) from None
        except requests.Timeout:
            raise ChannelError("twilio timed out") from None
        except requests.RequestException as exc:
            raise ChannelError(f"twilio unreachable: {type(exc).__name__}") from None
        logger.info("twilio sid=%s redacted", provider_id)
        return True


def _media_delete(client: Client, message_sid: str, media_sid: str) -> None:
    try:
        client.messages(message_sid).media(media_sid).delete()
    except TwilioRestException as exc:
        if exc.status != 404:  # gone already: what was asked
            raise
