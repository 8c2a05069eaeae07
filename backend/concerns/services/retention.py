"""Retention: what Candour forgets of concerns that ended long ago, and of the rows around them.

Called by the retention sweep (backend.retention), each with the moment before which a row counts as
old: the sweep works out those moments from ``CANDOUR_RETENTION`` and its ``now``. Each walks its table
by primary key in batches (``batch`` rows a read, one transaction a batch), never the whole table in
memory, and is idempotent: what it has forgotten no longer matches, so a second run finds nothing.

A concern has ended when it is closed or withdrawn. Its ``last_activity_at`` is then the moment it
ended: the move into a terminal state sets it, no transition leads out of one, and nothing else a
service may still do to an ended concern (an answer to "would you speak up again?", a placement on a
unit) counts as activity. Were that ever to change, a later ``last_activity_at`` only keeps the data
longer, never shorter.

Events are never changed or deleted (the audit chain is insert-only): forgetting a concern's identity
or case file adds one, the schedule's, to its chain.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import reduce
from operator import or_
from typing import Any

from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet

from backend.concerns.audit import event_build
from backend.concerns.models import (
    Clock,
    Concern,
    ConcernAction,
    ConflictOfInterest,
    IdentityMode,
    InboundSms,
    Message,
    Reason,
    Receipt,
    ReceiptGuessWindow,
)
from backend.config.db import IdsIn, UnitOfWork
from workflows.engine import lifecycle
from workflows.engine.lifecycle import Actor
from workflows.engine.vocabulary import EventKind

ENDED_STATES = sorted(s.value for s in lifecycle.TERMINAL)
# A confidential raiser's identity: what the guardian alone could see. (An SMS concern is anonymous,
# and its contact token is forgotten at closure; blanking it again here costs nothing.)
IDENTITY_FIELDS = ("raiser_name", "raiser_contact", "contact_token")
# The concern's own free text: the narrative and whatever identifies its raiser.
CASE_FILE_FIELDS = ("what_happened", "when_happened", "desired_outcome", "on_behalf_of", *IDENTITY_FIELDS)
# One ReceiptGuessWindow counts the wrong codes of one minute, from window_start.
RECEIPT_WINDOW = timedelta(minutes=1)


def ended_before(moment: datetime, *, through: str = "") -> Q:
    """Concerns closed or withdrawn before ``moment`` (``through``: the path to the concern from
    another model, "concern__" for an Alert, say)."""
    return Q(**{f"{through}state__in": ENDED_STATES, f"{through}last_activity_at__lt": moment})


def pk_batches(rows: QuerySet[Any], *, batch: int) -> Iterator[list[int]]:
    """The primary keys of ``rows``, ascending, ``batch`` at a time: one read by the primary key's
    index per batch. It walks on from the last key it gave, so a row that still matches after the
    caller's work (or a row the caller could not change) is never met twice, and the walk ends."""
    if batch < 1:
        raise ValueError("batch must be at least 1")
    last = 0
    while True:
        pks = list(rows.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:batch])
        if not pks:
            return
        yield pks
        if len(pks) < batch:
            return
        last = pks[-1]


def _any_given(fields: tuple[str, ...]) -> Q:
    """Any of these text fields not empty (an encrypted field stores an empty value empty)."""
    return reduce(or_, (~Q(**{name: ""}) for name in fields))


def confidential_identities_forget(*, ended: datetime, batch: int, now: datetime) -> int:
    """Blank the name and contact of every confidential raiser whose concern ended before ``ended``.
    The values are encrypted; blanking the columns leaves no ciphertext to decrypt with any key.
    Returns how many concerns it changed."""
    rows = Concern.objects.filter(
        ended_before(ended), _any_given(IDENTITY_FIELDS), identity_mode=IdentityMode.CONFIDENTIAL
    )
    forgotten = 0
    for pks in pk_batches(rows, batch=batch):
        with transaction.atomic():
            forgotten += _forget(rows, pks, fields=IDENTITY_FIELDS, kind=EventKind.IDENTITY_FORGOTTEN, now=now)
    return forgotten


def _forget(rows: QuerySet[Concern], pks: list[int], *, fields: tuple[str, ...], kind: EventKind, now: datetime) -> int:
    """Blank ``fields`` of the concerns of one batch still matching ``rows`` (locked: a service
    holding one saves after and reads the blanks), each with an Event of the schedule's, so the audit
    trail says what went and when. One statement for the concerns, one for their Events."""
    concerns = list(rows.filter(IdsIn(F("pk"), pks)).select_for_update(of=("self",)).order_by("pk"))
    work = UnitOfWork()
    for concern in concerns:
        for name in fields:
            setattr(concern, name, "")
        work.add(event_build(concern=concern, kind=kind, actor_id=None, actor_role=Actor.SYSTEM, now=now))
    work.update(concerns, [*fields, "audit_seq", "audit_head"])
    work.flush()
    return len(concerns)


@dataclass(frozen=True)
class CaseFilesForgotten:
    concerns: int = 0
    messages: int = 0
    reasons: int = 0


def _case_file_left(rows: QuerySet[Concern]) -> QuerySet[Concern]:
    """Concerns with anything of their case file still held: their own text, a message, staff's
    words with a move (a Reason), the receipt (a bearer's way in, of no use once there is nothing to
    read), a clock's pause reason or who must not handle it (the raiser's words among them)."""
    concern = OuterRef("pk")
    return rows.filter(
        _any_given(CASE_FILE_FIELDS)
        | Exists(Message.objects.filter(concern=concern))
        | Exists(Reason.objects.filter(concern=concern))
        | Exists(Receipt.objects.filter(concern=concern))
        | Exists(Clock.objects.filter(concern=concern).exclude(pause_reason=""))
        | Exists(ConflictOfInterest.objects.filter(concern=concern))
    )


def case_files_forget(*, ended: datetime, batch: int, now: datetime) -> CaseFilesForgotten:
    """Forget the case file of every concern that ended before ``ended``: its narrative (what
    happened, when, the outcome wanted), any identity still held (a named raiser's; a confidential
    one's if that period is the longer), its messages, staff's words given with its moves (Reason
    rows: why it was closed, paused or escalated; each Event keeps only their keyed digest, and the
    chain verifies without them), its receipt, its clocks' pause reasons, and its conflicts of
    interest (who must not handle it, with the raiser's words naming them: of no use once it ended),
    and its actions' owners and evidence (their titles and dates stay: what changed).

    Kept: the concern row with its reference, state, dates, unit and holders, themes, raiser kind and
    professional group, urgency, detriment and speak-up answers (the figures), its clocks' times, and
    its audit chain. Oversight forgets its alerts' resolutions by the same moment
    (backend.oversight.services.alert_resolutions_forget)."""
    rows = _case_file_left(Concern.objects.filter(ended_before(ended)))
    concerns = messages = reasons = 0
    for pks in pk_batches(rows, batch=batch):
        with transaction.atomic():
            concerns += _forget(rows, pks, fields=CASE_FILE_FIELDS, kind=EventKind.CASE_FILE_FORGOTTEN, now=now)
            in_batch = IdsIn(F("concern_id"), pks)
            messages += Message.objects.filter(in_batch).delete()[0]
            reasons += Reason.objects.filter(in_batch).delete()[0]
            Receipt.objects.filter(in_batch).delete()
            Clock.objects.filter(in_batch).exclude(pause_reason="").update(pause_reason="")
            ConflictOfInterest.objects.filter(in_batch).delete()
            # Who owned each action and the evidence may name people; what changed, and when, stays.
            ConcernAction.objects.filter(in_batch).update(owner="", evidence="")
    return CaseFilesForgotten(concerns=concerns, messages=messages, reasons=reasons)


def inbound_sms_purge(*, processed: datetime, batch: int) -> int:
    """Delete inbound texts processed before ``processed`` (their words and number left them at
    processing; the MessageSid and the exact time of arrival remain until now). A text still
    waiting is never deleted: the requeue sweep still owes it its work."""
    rows = InboundSms.objects.filter(processed_at__lt=processed)
    return sum(_delete(rows, pks) for pks in pk_batches(rows, batch=batch))


def receipt_windows_purge(*, ended: datetime, batch: int) -> int:
    """Delete the receipt look-up counters of minutes that ended before ``ended``: the ceiling only
    ever reads the current minute's."""
    rows = ReceiptGuessWindow.objects.filter(window_start__lt=ended - RECEIPT_WINDOW)
    return sum(_delete(rows, pks) for pks in pk_batches(rows, batch=batch))


def _delete(rows: QuerySet[Any], pks: list[int]) -> int:
    with transaction.atomic():
        return int(rows.filter(IdsIn(F("pk"), pks)).delete()[0])
