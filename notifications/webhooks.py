"""Twilio's calls to Candour: inbound texts and message status callbacks. Entry points: each checks
Twilio's signature, then calls one service, and holds no other logic.

Both are open to the internet, so the signature is the only thing that says a request came from
Twilio. It is checked against the PUBLIC address Twilio called (CANDOUR_BASE_URL plus the path and
query), never against the Host header or scheme this server saw: behind a proxy those are the proxy's,
and an attacker chooses them. A request that fails the check gets 403 and leaves no trace but one log
line that says so: no row, no task, and nothing of what it carried (a number or a text is personal
data whether or not the request was forged).

Signatures use the account's auth token (HMAC-SHA1, Twilio's default). An account switched to
SharedKey signing (X-Twilio-Webhooks-Signature-Settings) fails closed here until that is supported.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.module_loading import import_string
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from backend.config.access import access
from notifications.models import DeliveryStatus
from notifications.services import delivery_status_advance

logger = logging.getLogger(__name__)

DEFAULT_INBOUND_HANDLER = "backend.concerns.sms.sms_inbound_store"

# The answer to every text: empty TwiML, "send nothing now". The reply is worked out by a worker after
# commit and arrives as a text of its own. Not a fixed acknowledgement: that would be a second text
# (and a second charge) for every message, sent even to someone who has just texted STOP, and it
# would say "received" before anything is known about the text (a retry, a number that takes none).
EMPTY_TWIML = MessagingResponse().to_xml()

# Twilio's MessageStatus -> the outbox's status. Absent (accepted, scheduled, queued, sending, and
# anything new): ignored. Our "sending" means "a worker holds this row"; a delivery moved back into
# it would look like a dead worker to the requeue sweep, which would send the text again.
STATUS_MAP: dict[str, str] = {
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.DELIVERED,  # WhatsApp and RCS: read implies delivered
    "undelivered": DeliveryStatus.UNDELIVERABLE,
    "failed": DeliveryStatus.UNDELIVERABLE,
    "canceled": DeliveryStatus.UNDELIVERABLE,
}


def public_url(request: HttpRequest) -> str:
    """The address Twilio called, as configured in Twilio's console: the public base URL, then the
    path and query this request carried."""
    return settings.CANDOUR_BASE_URL.rstrip("/") + request.get_full_path()


def signature_valid(request: HttpRequest) -> bool:
    token = getattr(settings, "TWILIO_AUTH_TOKEN", "")
    signature = request.headers.get("X-Twilio-Signature", "")
    if not token or not signature:
        return False
    # The QueryDict itself, not .dict(): Twilio signs every value of a repeated parameter, and
    # .dict() keeps only the last, so a request with a repeated parameter would be checked against
    # less than was signed (and one that repeats a parameter to smuggle a value must fail).
    return bool(RequestValidator(token).validate(public_url(request), request.POST, signature))


def _forbidden(kind: str) -> HttpResponse:
    # The fact only: not the sid, the number, the text or the address it claimed to come from.
    logger.warning("twilio %s webhook refused: bad or missing signature", kind)
    return HttpResponse(status=403)


def _inbound_handler() -> Callable[..., int | None]:
    handler: Callable[..., int | None] = import_string(
        getattr(settings, "CANDOUR_SMS_INBOUND_HANDLER", "") or DEFAULT_INBOUND_HANDLER
    )
    return handler


def _twiml_empty() -> HttpResponse:
    return HttpResponse(EMPTY_TWIML, content_type="application/xml")


@access("public")
@csrf_exempt
@require_POST
def twilio_sms_inbound(request: HttpRequest) -> HttpResponse:
    """A text to one of Candour's numbers. The backend handler stores it, once per MessageSid (Twilio
    may call again), for a worker to process after commit; Twilio gets empty TwiML at once."""
    if not signature_valid(request):
        return _forbidden("sms")
    message_sid = request.POST.get("MessageSid", "") or request.POST.get("SmsSid", "")
    if not message_sid:
        # Signed but not a message (a misconfigured webhook, say): nothing to handle or dedupe on.
        logger.warning("twilio sms webhook without a MessageSid; ignored")
        return _twiml_empty()
    stored = _inbound_handler()(
        message_sid=message_sid,
        from_number=request.POST.get("From", ""),
        to_number=request.POST.get("To", ""),
        body=request.POST.get("Body", ""),
    )
    logger.info("twilio sms sid=%s %s", message_sid, "stored" if stored is not None else "already stored")
    return _twiml_empty()


@access("public")
@csrf_exempt
@require_POST
def twilio_status_callback(request: HttpRequest) -> HttpResponse:
    """What became of a message Candour sent. Callbacks arrive late, twice and out of order; the
    service moves a delivery forward only, so the most advanced report wins whatever the order."""
    if not signature_valid(request):
        return _forbidden("status")
    message_sid = request.POST.get("MessageSid", "") or request.POST.get("SmsSid", "")
    twilio_status = request.POST.get("MessageStatus", "") or request.POST.get("SmsStatus", "")
    status = STATUS_MAP.get(twilio_status)
    if message_sid and status:
        moved = delivery_status_advance(provider_id=message_sid, status=status)
        logger.info("twilio status sid=%s %s moved=%s", message_sid, twilio_status, moved)
    # 204 whatever happened: Twilio has nothing to retry, and an unknown sid tells a prober nothing.
    return HttpResponse(status=204)
