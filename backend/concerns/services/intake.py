"""Raising a concern: the one use case a raiser waits on, so it is one statement."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from django.db.models import Model

from backend.concerns.audit import raised_event_build
from backend.concerns.clocks import ALL_KINDS, clocks_build
from backend.concerns.crypto import receipt_digest, receipt_new, receipt_normalise, reference_new, submission_digest
from backend.concerns.disclosure import Certificate, certificate_sign, keyring
from backend.concerns.models import Channel, Concern, ConflictBasis, ConflictOfInterest, IdentityMode, Receipt
from backend.concerns.notices import Directory, raised_notices
from backend.concerns.services.common import notice_hold, now_or
from backend.config.db import UnitOfWork, id_reserve
from backend.errors import Conflict
from backend.organisations.models import EscalationPolicy, Organisation
from backend.organisations.policies import policy_for_organisation
from notifications.services import DeliveryRequest, deliveries_build

logger = logging.getLogger(__name__)


class DuplicateSubmission(Conflict):
    """This form or request was already received; the receipt was shown then and cannot be shown again."""

    def __init__(self, reference: str) -> None:
        super().__init__(f"already received as {reference}")
        self.reference = reference


@dataclass(frozen=True)
class RaisedConcern:
    concern: Concern
    receipt: str  # shown once to the raiser, never stored
    # Proof of disclosure, signed over the words as received: shown once beside the receipt, never stored.
    certificate: Certificate


@dataclass(frozen=True)
class ConcernDraft:
    """What a raiser tells: the one shape intake takes, from the web form, the API or a text."""

    unit: Organisation
    raiser_kind: str
    identity_mode: str
    themes: Sequence[str]
    what_happened: str
    urgent: bool = False
    when_happened: str = ""
    desired_outcome: str = ""
    raised_before: bool | None = None
    professional_group: str = ""
    raiser_name: str = ""
    raiser_contact: str = ""
    on_behalf_of: str = ""
    channel: str = Channel.WEB
    contact_token: str = field(default="", repr=False)
    # Who must not handle it: the raiser's own words (for the guardian alone; identifying, so never
    # in a repr, a log or the packet), and roles ticked (ConflictBasis.LINE_MANAGER, WARD_MANAGER).
    not_to_handle: str = field(default="", repr=False)
    not_to_handle_roles: Sequence[str] = ()
    # A detriment case reported after ``detriment_of`` closed (services.aftercare): its own clocks,
    # never a repeat of the concern it follows (no arrival checks), never counted as received.
    detriment_of: Concern | None = None


def raiser_conflicts_build(draft: ConcernDraft, *, concern: Concern) -> list[ConflictOfInterest]:
    """The raiser's naming of who must not handle their concern (its key given), one row per role
    ticked and one for their words, each without a person until the guardian resolves it."""
    at = concern.received_at
    rows = [
        ConflictOfInterest(concern=concern, basis=ConflictBasis(role), created_at=at)
        for role in sorted(set(draft.not_to_handle_roles))
    ]
    if draft.not_to_handle.strip():
        rows.append(
            ConflictOfInterest(
                concern=concern, basis=ConflictBasis.RAISER_WORDS, words=draft.not_to_handle.strip(), created_at=at
            )
        )
    return rows


def concern_build(
    draft: ConcernDraft, *, now: datetime, submission: str | None = None, policy: EscalationPolicy | None = None
) -> Concern:
    """The unsaved concern, under the policy its unit has now (or ``policy``, known already). An
    anonymous raiser leaves no name, no contact and no exact time: the receipt time is kept only to
    the hour."""
    anonymous = draft.identity_mode == IdentityMode.ANONYMOUS
    received_at = now.replace(minute=0, second=0, microsecond=0) if anonymous else now
    return Concern(
        raiser_kind=draft.raiser_kind,
        professional_group=draft.professional_group,
        identity_mode=draft.identity_mode,
        themes=sorted(set(draft.themes)),
        urgent=draft.urgent,
        channel=draft.channel,
        unit=draft.unit,
        holder=draft.unit,
        route_level=0,
        what_happened=draft.what_happened,
        when_happened=draft.when_happened,
        desired_outcome=draft.desired_outcome,
        raised_before=draft.raised_before,
        raiser_name="" if anonymous else draft.raiser_name,
        raiser_contact="" if anonymous else draft.raiser_contact,
        on_behalf_of=draft.on_behalf_of.strip(),
        received_at=received_at,
        last_activity_at=received_at,
        submission_digest=submission,
        contact_token=draft.contact_token,
        detriment_of=draft.detriment_of,
        arrival_checks_pending=draft.detriment_of is None,
        policy=policy or policy_for_organisation(organisation=draft.unit),
    )


def concern_rows_build(
    concern: Concern, *, receipt: str, notices: Sequence[DeliveryRequest], draft: ConcernDraft | None = None
) -> list[Model]:
    """What a raise writes beside the concern (its key given): the receipt's keyed hash, the first
    link of its audit chain, its clocks, the notices to its guardians and (from ``draft``) who the
    raiser said must not handle it. The figures follow from the Event when a unit of work writes it."""
    return [
        Receipt(concern=concern, digest=receipt_digest(receipt_normalise(receipt) or "")),
        raised_event_build(concern=concern, channel=concern.channel, now=concern.received_at),
        *clocks_build(concern=concern, kinds=ALL_KINDS, now=concern.received_at, first_start=True),
        # At the receipt time: an anonymous raise's notices keep no finer time than its hour.
        *deliveries_build(requests=notices, now=concern.received_at),
        *(raiser_conflicts_build(draft, concern=concern) if draft is not None else ()),
    ]


def _raise_once(concern: Concern, *, receipt: str, guardians: Directory | None, draft: ConcernDraft) -> bool:
    """One attempt under a fresh key and reference: the concern and everything that follows from it
    (receipt, first Event, clocks, the guardians' notices unless ``guardians`` is None; the figures
    follow from the Event) in one statement. False, with nothing written, if the reference or
    submission clashed."""
    concern.pk = id_reserve(Concern)
    concern.reference = reference_new()
    concern.audit_seq, concern.audit_head = 0, ""
    work = UnitOfWork()
    notices = []
    if guardians is not None:
        hold = notice_hold(concern, at=concern.received_at)
        notices = [replace(n, not_before=hold) for n in raised_notices(directory=guardians, concern=concern)]
    work.add(*concern_rows_build(concern, receipt=receipt, notices=notices, draft=draft))
    return work.flush_together(concern)


def concern_import(*, draft: ConcernDraft, at: datetime) -> Concern:
    """A concern recorded before Candour (a guardian's spreadsheet, or the demo's history), raised
    as intake raises one, at its own time, with its receipt, first Event, clocks and figures; but
    nobody is told now (it is not news) and its arrival checks count as done. Its receipt is not
    shown to anyone: the raiser of an imported concern follows it up through its guardian."""
    concern = concern_build(draft, now=at)
    concern.arrival_checks_pending = False
    for _ in range(5):
        if _raise_once(concern, receipt=receipt_new(), guardians=None, draft=draft):
            return concern
    raise RuntimeError("could not allocate a concern reference")  # pragma: no cover


def concern_raise(*, draft: ConcernDraft, submission_key: str = "", now: datetime | None = None) -> RaisedConcern:
    """Record a concern with its receipt, its first Event, its clocks, its figures and the notices to
    its guardians, all or nothing, in one statement (the raiser waits for this, so it is one round
    trip, not a dozen). No transaction of its own: the statement is atomic by itself, and inside a
    caller's transaction (an inbound text's) it joins that one. Detectors that look at its arrival
    (a repeat on the same unit and theme) run in the arrival sweep within seconds: governors are not
    waiting on the raiser, and the raiser should not wait on them.

    ``submission_key`` (the form's one-time token, or an API Idempotency-Key) makes a resubmission
    (a refresh, a retried request) raise DuplicateSubmission instead of a second concern."""
    now = now_or(now)
    submission = submission_digest(submission_key) if submission_key else None
    concern = concern_build(draft, now=now, submission=submission)
    receipt = receipt_new()
    guardians = Directory.guardians_above(draft.unit)
    for _ in range(5):
        if _raise_once(concern, receipt=receipt, guardians=guardians, draft=draft):
            break
        if submission and (earlier := Concern.objects.filter(submission_digest=submission).first()):
            raise DuplicateSubmission(earlier.reference)  # the same form, sent again or twice at once
        # A reference collision (about one in 10^11 per pair), or on SQLite a key taken by a
        # concurrent raise: draw both again.
    else:  # pragma: no cover - would need five collisions in a row
        raise RuntimeError("could not allocate a concern reference")
    if concern.identity_mode == IdentityMode.ANONYMOUS:
        # No id: a log line's time is exact, and the concern keeps its receipt time only to the hour.
        logger.info("concern raised, anonymous")
    else:
        logger.info("concern raised id=%s", concern.pk)
    return RaisedConcern(concern=concern, receipt=receipt, certificate=_certificate(concern, words=draft.what_happened))


def _certificate(concern: Concern, *, words: str) -> Certificate:
    """Signed from the words the raiser sent (as the input schema left them), not read back from the
    row: the certificate is of what was received, made while Candour still holds it in clear."""
    return certificate_sign(
        keys=keyring(),
        reference=concern.reference,
        organisation_code=concern.unit.code,
        organisation_name=concern.unit.name,
        received_at=concern.received_at,
        words=words,
    )
