"""The SMS conversation: what a text to an organisation's number does, and what Candour replies.

In two steps, so that Twilio gets its answer within milliseconds whatever the work costs:

1. ``sms_inbound_store`` (called by the Twilio webhook, notifications.webhooks, once it has checked
   the signature) stores the text in one short transaction, keyed by its unique MessageSid, so a
   Twilio retry stores nothing new, and sends the processing task after commit with the row's id.
2. ``sms_inbound_process`` (the task, in a worker) processes one stored text exactly once: it raises
   or adds to a concern, answers keywords, and writes the reply to the notifications outbox, which
   texts it to the raiser's vault token. ``sms_inbound_requeue_stale`` (a beat job) sends the task
   again for a text left waiting, so a lost broker message or a killed worker never loses a text.

The number goes into the contact vault and nowhere else in clear: until it is processed the stored
text is encrypted, and once it is processed it is emptied, and Twilio is asked to forget it too
(notifications.redactions). Every reply goes through the vault, so a raiser who texted STOP hears
nothing more.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from backend.concerns import selectors, services
from backend.concerns.crypto import ContactSpace, contact_token, phone_normalise
from backend.concerns.models import Channel, Concern, IdentityMode, InboundSms
from backend.concerns.notices import notices_send
from backend.concerns.vault import OPEN_STATES, vault_may_text, vault_opt, vault_store
from backend.config.db import lock_for_key, rows_insert
from backend.organisations.models import Organisation
from notifications.models import Direction
from notifications.redactions import message_known, redactions_request
from notifications.services import DeliveryRequest, deliveries_sent_here
from workflows.engine.lifecycle import IllegalTransition
from workflows.engine.vocabulary import RaiserKind, Theme

logger = logging.getLogger(__name__)

# Celery finds the task by name: backend never imports an entry point (the import contracts).
SMS_PROCESS_TASK = "workflows.tasks.sms_inbound_process"
# A text still waiting after its retry time has lost its task; each wait doubles, up to this many
# times the first, so a text that fails every time is not retried every minute for ever.
RETRY_BACKOFF_CAP = 64
# About a day of retries (1+2+...+64 minutes, then hourly): then the text is given up, loudly.
MAX_REQUEUES = 30

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


def _hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def _retry_after(requeues: int = 0) -> timedelta:
    first = timedelta(seconds=getattr(settings, "CANDOUR_SMS_REQUEUE_AFTER_SECONDS", 60))
    return first * min(2**requeues, RETRY_BACKOFF_CAP)


def _process_on_commit(inbound_ids: list[int]) -> None:
    # After commit only: the worker must find the row. robust: a broker that is down must not turn
    # Twilio's answer into a 500 (Twilio would retry, and the text is already stored); the row waits
    # and the requeue sweep sends its task later. A closure per id, not a partial: Django names a
    # failing robust callback by its __qualname__.
    for inbound_id in inbound_ids:

        def enqueue(inbound_id: int = inbound_id) -> None:
            current_app.send_task(SMS_PROCESS_TASK, args=[inbound_id])

        transaction.on_commit(enqueue, robust=True)


@transaction.atomic
def sms_inbound_store(
    *, message_sid: str, from_number: str, to_number: str, body: str, now: datetime | None = None
) -> int | None:
    """Store one inbound text for processing after commit. Returns the new row's id, or None when
    this MessageSid is already stored (Twilio retried): then nothing is written and nothing queued.
    Two deliveries of one sid at the same moment neither fail nor both store: the unique index
    decides, and only the winner gets an id back."""
    now = now or timezone.now()
    if message_known(provider_id=message_sid):
        return None  # processed and forgotten long ago: a replay
    inbound = InboundSms(
        message_sid=message_sid,
        # A text is a raiser's action: kept to the hour (its retry time is exact only while it waits).
        received_at=_hour(now),
        payload=json.dumps({"from": from_number, "to": to_number, "body": body}),
        retry_at=now + _retry_after(),
    )
    written = rows_insert([inbound], on_conflict="skip", returning=["id"])
    if not written:
        return None
    inbound_id = int(written[0][0])
    _process_on_commit([inbound_id])
    return inbound_id


def _stop(text: _Text) -> str | None:
    vault_opt(number=text.from_number, opted_out=True)
    return None


def _start(text: _Text) -> str | None:
    vault_opt(number=text.from_number, opted_out=False)
    return "Candour: you will get texts about your concern again."


def _help(text: _Text) -> str | None:
    return HELP


def _status(text: _Text) -> str | None:
    if text.concern is None:
        return "Candour: you have no open concern with us. Text it to raise one."
    return _status_reply(text.concern)


def _escalate(text: _Text) -> str | None:
    concern = text.concern
    if concern is None:
        return "Candour: you have no open concern with us."
    try:
        concern = services.concern_escalate_by_raiser(concern_id=concern.pk, now=text.now)
    except IllegalTransition:
        return f"Candour: concern {concern.reference} cannot be escalated yet: the time for feedback has not passed."
    return f"Candour: concern {concern.reference} has gone to {concern.holder.name}. They will not be told who you are."


def _words(text: _Text) -> str | None:
    """Not a keyword: the first text opens a concern, a later one adds to it."""
    assert text.organisation is not None
    if text.concern is not None:
        services.concern_message_from_raiser(concern_id=text.concern.pk, body=text.body, now=text.now)
        return f"Candour: added to concern {text.concern.reference}."
    vault_store(number=text.from_number, now=text.now, space=ContactSpace.RAISER)
    # The guardian places it on the right ward or team; until then it is about the organisation.
    draft = services.ConcernDraft(
        unit=text.organisation,
        raiser_kind=RaiserKind.STAFF,
        identity_mode=IdentityMode.ANONYMOUS,
        themes=[Theme.OTHER],
        what_happened=text.body,
        channel=Channel.SMS,
        contact_token=contact_token(text.from_number, space=ContactSpace.RAISER),
    )
    raised = services.concern_raise(draft=draft, now=text.now)
    # No id: the concern is anonymous and keeps its receipt time only to the hour; a log line's is exact.
    logger.info("sms concern raised")
    return _first_message_reply(raised.concern.reference, raised.receipt)


@dataclass(frozen=True)
class _Text:
    from_number: str
    body: str
    now: datetime
    organisation: Organisation | None = None
    concern: Concern | None = None


# Keywords any number may send, answered before Candour looks for the organisation texted.
ANYWHERE: dict[str, Callable[[_Text], str | None]] = {
    **dict.fromkeys(STOP_WORDS, _stop),
    **dict.fromkeys(START_WORDS, _start),
    "HELP": _help,
}
# Keywords about the sender's open concern at the organisation texted; anything else is its words.
ABOUT_CONCERN: dict[str, Callable[[_Text], str | None]] = {"STATUS": _status, "ESCALATE": _escalate}


def _converse(*, from_number: str, to_number: str, body: str, now: datetime) -> str | None:
    """What one text does, and the reply to it, or None to reply nothing (STOP)."""
    keyword = body.strip().upper()
    text = _Text(from_number=from_number, body=body, now=now)
    # After closure, a raiser whose number is kept may answer the consent question (YES, which is
    # otherwise START, or NO), a check-in, or report detriment: before the keywords any number may send.
    token = contact_token(from_number, space=ContactSpace.RAISER)
    aftercare = services.aftercare_text(token=token, body=body, now=now)
    if aftercare.handled:
        return aftercare.reply
    if keyword in ANYWHERE:
        return ANYWHERE[keyword](text)
    organisation = Organisation.objects.filter(sms_number=phone_normalise(to_number)).first()
    if organisation is None:
        return "Candour: this number does not take concerns. Please check the number you were given."
    concern = _open_concern(contact_token(from_number, space=ContactSpace.RAISER), organisation)
    text = replace(text, organisation=organisation, concern=concern)
    return ABOUT_CONCERN.get(keyword, _words)(text)


def _reply(*, inbound: InboundSms, text: dict[str, str], reply: str, now: datetime) -> bool:
    """Text the reply back through the outbox, by vault token, like every text to a raiser, from the
    number they texted. Private: it may carry their receipt code, erased from the outbox once sent."""
    # The vault is the only way an SMS reaches anyone; a texter with no concern (HELP, say) is kept
    # there too, and the retention job deletes the entry when no open concern needs it.
    token = vault_store(number=text["from"], now=now, space=ContactSpace.RAISER)
    if not vault_may_text(token=token):
        return False  # they texted STOP; Twilio would refuse it anyway
    # Sent by this worker the moment the processing commits: the sender is waiting for it, and a
    # delivery task would queue behind every text that arrived meanwhile.
    with deliveries_sent_here():
        notices_send(
            [
                DeliveryRequest(
                    idempotency_key=f"sms:reply:{inbound.pk}",
                    channel="sms",
                    recipient=token,
                    body=reply,
                    private=True,
                    sender=phone_normalise(text["to"]) or "",
                )
            ]
        )
    return True


def _one_sender_at_a_time(number: str) -> None:
    """Hold a transaction-scoped lock on this sender: two texts from one number, taken by two workers
    at once, would otherwise both find no open concern and raise two. Keyed by the vault token (a
    keyed hash: the number itself goes nowhere)."""
    lock_for_key(int(contact_token(number, space=ContactSpace.RAISER)[:15], 16))


def sms_inbound_process(*, inbound_id: int, now: datetime | None = None) -> str:
    """Process one stored text exactly once, and queue its reply. Returns what happened:
    ``replied``, ``silent`` (STOP, or opted out), ``done already`` or ``missing``.

    The row is locked for the whole of it, so a second task for the same text (a broker redelivery,
    the requeue sweep) waits, then finds it processed. Anything that fails rolls it all back, the
    row still waiting, for the requeue sweep to try again."""
    now = now or timezone.now()
    with transaction.atomic():
        inbound = InboundSms.objects.select_for_update().filter(pk=inbound_id).first()
        if inbound is None:
            logger.warning("sms inbound id=%s not found", inbound_id)
            return "missing"
        if inbound.processed_at is not None:
            logger.info("sms inbound id=%s processed already", inbound_id)
            return "done already"
        text = json.loads(inbound.payload)
        _one_sender_at_a_time(text["from"])
        reply = _converse(from_number=text["from"], to_number=text["to"], body=text["body"], now=now)
        replied = False
        if reply:
            replied = _reply(inbound=inbound, text=text, reply=reply, now=now)
        # Processed: the number and the words leave this row (the concern and the vault keep them),
        # and Twilio is asked to forget them once this commits.
        inbound.payload = ""
        inbound.processed_at, inbound.retry_at = _hour(now), None
        inbound.save(update_fields=["payload", "processed_at", "retry_at"])
        redactions_request(provider_ids=[inbound.message_sid], direction=Direction.INBOUND, now=now)
    outcome = "replied" if replied else "silent"
    logger.info("sms inbound id=%s processed, %s", inbound_id, outcome)
    return outcome


def sms_inbound_requeue_stale(
    *, now: datetime | None = None, batch: int = 500, max_requeues: int = MAX_REQUEUES
) -> int:
    """Send the processing task again for each text still waiting past its retry time; returns how
    many. Each wait is twice the last (up to RETRY_BACKOFF_CAP times the first); after
    ``max_requeues`` a text is given up: emptied, marked processed, and logged as an error.
    Safe to run twice at once: rows a worker or another sweep holds are skipped."""
    now = now or timezone.now()
    requeued = 0
    while True:
        with transaction.atomic():
            # SKIP LOCKED: a text a worker is processing right now is not lost, just slow.
            rows = list(
                InboundSms.objects.select_for_update(skip_locked=True)
                .filter(processed_at=None, retry_at__lt=now)
                .order_by("retry_at")
                .only("pk", "requeues", "message_sid")[:batch]
            )
            exhausted = [r for r in rows if r.requeues >= max_requeues]
            if exhausted:
                InboundSms.objects.filter(pk__in=[r.pk for r in exhausted]).update(
                    payload="", processed_at=_hour(now), retry_at=None
                )
                # Given up here, so Twilio is asked to forget the words as well.
                redactions_request(
                    provider_ids=[r.message_sid for r in exhausted], direction=Direction.INBOUND, now=now
                )
                logger.error("sms inbound given up after %s requeues: ids=%s", max_requeues, [r.pk for r in exhausted])
            again = [r for r in rows if r.requeues < max_requeues]
            # One UPDATE per number of earlier requeues (a handful), not one per row.
            for requeues in {r.requeues for r in again}:
                InboundSms.objects.filter(pk__in=[r.pk for r in again if r.requeues == requeues]).update(
                    retry_at=now + _retry_after(requeues + 1), requeues=F("requeues") + 1
                )
            _process_on_commit([r.pk for r in again])
        requeued += len(again)
        if len(rows) < batch:
            break
    if requeued:
        logger.info("sms inbound requeued=%s", requeued)
    return requeued
