"""The SMS conversation: what a text to an organisation's number does, and what Candour replies.

Called by the Twilio webhook (notifications.webhooks) after it has checked the signature. Each
MessageSid is handled once. The number goes into the contact vault and nowhere else.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from backend.concerns import selectors, services
from backend.concerns.crypto import contact_token, phone_normalise
from backend.concerns.models import Concern, IdentityMode, InboundSms, RaiserKind, Theme
from backend.concerns.vault import OPEN_STATES, vault_opt, vault_store
from backend.organisations.models import Organisation
from workflows.engine.lifecycle import IllegalTransition

logger = logging.getLogger(__name__)

# Twilio's own conventions: it replies to these itself and stops sending until START.
STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
START_WORDS = frozenset({"START", "YES", "UNSTOP"})

ANONYMITY = (
    "Nobody handling your concern sees your number. Your phone company and our text provider know it; "
    "Candour keeps it encrypted only to reply to you and deletes it when your concern closes."
)
HELP = (
    "Candour: text your concern to this number. Reply to add to it. STATUS: latest news. "
    "ESCALATE: take it further once the time for feedback has passed. STOP: no more texts. " + ANONYMITY
)


def _first_message_reply(reference: str, receipt: str) -> str:
    return (
        f"Candour: your concern is received, reference {reference}. Reply to this number to add to it, "
        f"or text STATUS for news. {ANONYMITY} To follow it up on the web, use receipt code {receipt}."
    )


def _status_reply(concern: Concern) -> str:
    view = selectors.concern_raiser_view(concern=concern)
    where = f", escalated {view.route_level} step(s)" if view.route_level else ""
    return f"Candour: concern {view.reference} is {view.state_label.lower()}{where}."


def _open_concern(token: str, organisation: Organisation) -> Concern | None:
    return (
        Concern.objects.filter(contact_token=token, state__in=OPEN_STATES, unit__path__startswith=organisation.path)
        .order_by("-received_at", "-pk")
        .first()
    )


def _first_time(message_sid: str, now: datetime) -> bool:
    try:
        with transaction.atomic():
            InboundSms.objects.create(message_sid=message_sid, received_at=now)
    except IntegrityError:
        return False
    return True


@transaction.atomic
def sms_inbound(
    *, message_sid: str, from_number: str, to_number: str, body: str, now: datetime | None = None
) -> str | None:
    """Handle one inbound text; return the reply, or None to send nothing (a retry, or STOP)."""
    now = now or timezone.now()
    if not _first_time(message_sid, now):
        return None
    keyword = body.strip().upper()
    if keyword in STOP_WORDS:
        vault_opt(number=from_number, opted_out=True)
        return None
    if keyword in START_WORDS:
        vault_opt(number=from_number, opted_out=False)
        return "Candour: you will get texts about your concern again."
    if keyword == "HELP":
        return HELP
    organisation = Organisation.objects.filter(sms_number=phone_normalise(to_number)).first()
    if organisation is None:
        return "Candour: this number does not take concerns. Please check the number you were given."
    token = contact_token(from_number)
    concern = _open_concern(token, organisation)
    if keyword == "STATUS":
        return _status_reply(concern) if concern else "Candour: you have no open concern with us. Text it to raise one."
    if keyword == "ESCALATE":
        if concern is None:
            return "Candour: you have no open concern with us."
        try:
            concern = services.concern_escalate_by_raiser(concern_id=concern.pk, now=now)
        except IllegalTransition:
            return (
                f"Candour: concern {concern.reference} cannot be escalated yet: the time for feedback has not passed."
            )
        where = concern.holder.name
        return f"Candour: concern {concern.reference} has gone to {where}. They will not be told who you are."
    if concern is None:
        vault_store(number=from_number, now=now)
        # The guardian places it on the right ward or team; until then it is about the organisation.
        raised = services.concern_raise(
            unit=organisation,
            raiser_kind=RaiserKind.STAFF,
            identity_mode=IdentityMode.ANONYMOUS,
            themes=[Theme.OTHER],
            what_happened=body,
            channel="sms",
            contact_token=token,
            now=now,
        )
        logger.info("sms concern raised id=%s", raised.concern.pk)
        return _first_message_reply(raised.concern.reference, raised.receipt)
    services.concern_message_from_raiser(concern_id=concern.pk, body=body, now=now)
    return f"Candour: added to concern {concern.reference}."
