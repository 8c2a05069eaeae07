"""After a concern closes: the raiser is asked how things are, and may report detriment at any time.

Staff who spoke up at Mid Staffordshire "were ostracised or sidelined", and that harm tends to start
after closure, when the raiser is forgotten. So a closed concern keeps a schedule of check-ins (the
policy's ``aftercare``: 1, 3, 6 and 12 months by default), each asked once: shown on the raiser's
follow-up page (their receipt), and texted once to an SMS raiser who agreed at closure. An answer is
recorded as the same audited Events a raiser's answer always was (SPEAK_UP_AGAIN_ANSWERED,
DETRIMENT_REPORTED), so the weekly figures and early-warning trends count it, and the concern keeps
the latest answer. A check-in nobody answers lapses when the next falls due: it was asked, never
nagged.

Consent by text: closing an SMS raiser's concern texts them the question (reply YES or NO). Their
number stays in the contact vault, keyed by its token, until they answer or ``consent_days`` pass:
YES keeps it until the last check-in has lapsed, NO (or silence) purges it as closing always did.
A web raiser who left a contact is asked on the follow-up page; NO there stops the questions.

A detriment case is a new Concern linked to the closed one (``detriment_of``), not a parallel system:
so its clocks (its own acknowledge and feedback rules in the policy, ``when: {detriment: true}``),
the sweep, the guardian's inbox, escalation and the case page all apply as they stand. It is raised
about the same unit under the same identity mode (an anonymous raiser stays anonymous: no name, no
contact, times to the hour), its guardians are told as for any concern, and governors see a
"Detriment reported after closure" alert. The raiser follows it with their existing receipt (the
closed concern's page lists it); its own receipt is never shown. It counts in no public or weekly
figure as a concern received (see oversight.figures): the report counts once, as detriment on the
concern it follows.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import F

from backend.concerns.facts import Sidelined
from backend.concerns.models import (
    AftercareConsent,
    Channel,
    CheckIn,
    Concern,
    IdentityMode,
    SpeakUpAgain,
)
from backend.concerns.notices import sms_to_raiser
from backend.concerns.services.common import Act, locked, notice_hold, now_or
from backend.concerns.services.intake import ConcernDraft, concern_raise
from backend.concerns.services.raiser import raiser_time
from backend.concerns.vault import vault_may_text, vault_purge_for_concern
from backend.config.db import IdsIn, UnitOfWork
from backend.errors import Conflict, Invalid
from backend.organisations.policies import policy_rules
from workflows.engine.lifecycle import Actor, State
from workflows.engine.policy import Aftercare
from workflows.engine.sidelining import Rule
from workflows.engine.vocabulary import EventKind

logger = logging.getLogger(__name__)

AFTERCARE_BATCH = 500
NOTHING_WAITING = "There is no question waiting for your answer: it may have been answered already, or closed."
NOT_CLOSED = "You can report this here once your concern is closed. Until then, send a message on your concern."

# What an SMS raiser may reply to a check-in, and the answer each means.
SPEAK_UP_WORDS: dict[str, SpeakUpAgain] = {
    "YES": SpeakUpAgain.YES,
    "NO": SpeakUpAgain.NO,
    "MAYBE": SpeakUpAgain.MAYBE,
    "DONT KNOW": SpeakUpAgain.DONT_KNOW,
    "DON'T KNOW": SpeakUpAgain.DONT_KNOW,
}
DETRIMENT_WORD = "DETRIMENT"


def _months(aftercare: Aftercare) -> str:
    months = sorted(set(aftercare.check_in_months))
    return ", ".join(str(m) for m in months[:-1]) + f" and {months[-1]}" if len(months) > 1 else str(months[0])


def _consent_question(aftercare: Aftercare) -> str:
    return (
        f"your concern is closed. May we text you {_months(aftercare)} months from now to ask how things are "
        f"for you? Reply YES and we keep your number, encrypted, until then, or NO and we delete it now. "
        f"With no answer in {aftercare.consent_days} days we delete it."
    )


def _check_in_text(months: int) -> str:
    return (
        f"it is {months} month{'s' if months != 1 else ''} since your concern closed. Given your experience, "
        "would you speak up again? Reply YES, NO, MAYBE or DONT KNOW. If you have been treated badly for "
        f"speaking up, reply {DETRIMENT_WORD} and what happened: a guardian will look into it. STOP: no more texts."
    )


def aftercare_begin(*, concern: Concern, now: datetime) -> None:
    """Closing a concern (services.staff.concern_close, in its transaction, the concern locked):
    its check-ins are scheduled and its raiser asked for consent, or its number purged as before.
    A detriment case's own closing schedules nothing: its raiser is followed by the concern it follows.

    A closed concern never moves again (the transition table has no move out of closed), so this runs
    once per concern; the unique (concern, months) constraint would make a second run ask nothing twice."""
    if concern.detriment_of_id is not None:
        vault_purge_for_concern(concern=concern)
        return
    aftercare = policy_rules(policy=concern.policy).aftercare
    work = UnitOfWork()
    work.add(
        *(
            CheckIn(concern=concern, months=due.months, due_at=due.due_at, closes_at=due.closes_at)
            for due in aftercare.schedule(closed_at=now, tz=concern.holder.calendar.tz)
        )
    )
    if concern.channel == Channel.SMS and concern.contact_token and vault_may_text(token=concern.contact_token):
        # The number waits for the raiser's YES for consent_days, no longer (the sweep purges it then).
        concern.aftercare_consent = AftercareConsent.ASKED
        concern.contact_kept_until = aftercare.consent_until(now)
        sms_to_raiser(concern=concern, key=f"aftercare:consent:{concern.pk}", text=_consent_question(aftercare))
    else:
        if concern.channel == Channel.WEB and concern.raiser_contact:
            concern.aftercare_consent = AftercareConsent.ASKED
        vault_purge_for_concern(concern=concern)
    work.save(concern, fields=["aftercare_consent", "contact_kept_until"])
    work.flush()


def _open_check_in(*, concern: Concern, now: datetime) -> CheckIn | None:
    """The check-in the raiser may answer now: fallen due, not lapsed, not answered (locked)."""
    return (
        CheckIn.objects.select_for_update()
        .filter(concern=concern, due_at__lte=now, closes_at__gt=now, answered_at__isnull=True)
        .order_by("-due_at")
        .first()
    )


def _refuse_unless_followed(concern: Concern) -> None:
    if concern.state != State.CLOSED or concern.detriment_of_id is not None:
        raise Conflict(NOT_CLOSED)


def _detriment_case_open(*, act: Act, words: str, months: int | None) -> Concern:
    """Open the detriment case that follows ``act.concern`` (closed, locked) and record the report on
    the closed concern (DETRIMENT_REPORTED, counted in the weekly figures); governors are alerted on
    the case. Within the caller's transaction."""
    closed = act.concern
    anonymous = closed.identity_mode == IdentityMode.ANONYMOUS
    draft = ConcernDraft(
        unit=closed.unit,
        raiser_kind=closed.raiser_kind,
        identity_mode=closed.identity_mode,
        themes=list(closed.themes),
        professional_group=closed.professional_group,
        what_happened=words.strip() or "Reported at a check-in after the concern closed.",
        raiser_name="" if anonymous else closed.raiser_name,
        raiser_contact="" if anonymous else closed.raiser_contact,
        channel=closed.channel,
        # While the number is kept, the SMS raiser's later texts reach the case (sms._open_concern).
        contact_token=closed.contact_token,
        detriment_of=closed,
    )
    # Its own receipt is never shown: the raiser follows it through the closed concern's receipt.
    case = concern_raise(draft=draft, now=act.now).concern
    closed.detriment_reported = True
    data: dict[str, object] = {"case": case.pk}
    if months is not None:
        data["check_in"] = months
    act.record(EventKind.DETRIMENT_REPORTED, data=data, visible_to_raiser=True)
    act.work.tell(
        Sidelined(concern=case, rule=Rule.DETRIMENT_AFTER_CLOSURE, at=act.now, not_before=notice_hold(case, at=act.now))
    )
    # No id: an anonymous raiser's report is placed only to its hour, and a log line's time is exact.
    logger.info("detriment case opened after closure")
    return case


@dataclass(frozen=True)
class CheckInAnswered:
    concern: Concern
    case: Concern | None  # the detriment case opened, if the raiser reported detriment


@transaction.atomic
def concern_check_in_answer(
    *, concern_id: int, detriment: bool, answer: str, words: str = "", now: datetime | None = None
) -> CheckInAnswered:
    """The raiser answers the check-in open now: whether they have suffered detriment (``words``:
    what happened, optional) and whether they would speak up again. Conflict when none is open."""
    now = now_or(now)
    concern = locked(concern_id)
    _refuse_unless_followed(concern)
    check_in = _open_check_in(concern=concern, now=now)
    if check_in is None:
        raise Conflict(NOTHING_WAITING)
    at = raiser_time(concern, now)
    act = Act(concern, Actor.RAISER, None, at)
    concern.would_speak_up_again = SpeakUpAgain(answer)
    act.record(
        EventKind.SPEAK_UP_AGAIN_ANSWERED, data={"answer": answer, "check_in": check_in.months}, visible_to_raiser=True
    )
    case = _detriment_case_open(act=act, words=words, months=check_in.months) if detriment else None
    # The latest answer stands on the concern; every answer stays in its audit trail.
    concern.detriment_reported = detriment
    check_in.answered_at, check_in.asked_at = at, check_in.asked_at or at
    act.work.save(check_in, fields=["answered_at", "asked_at"])
    return CheckInAnswered(concern=act.done(), case=case)


@transaction.atomic
def concern_detriment_report_after_closure(*, concern_id: int, words: str, now: datetime | None = None) -> Concern:
    """The raiser reports detriment after closure, at any time, with their receipt: a detriment case
    opens (returned), handled by the guardian with clocks of its own."""
    if not words.strip():
        raise Invalid("Tell us what has happened to you, so the guardian can look into it.")
    now = now_or(now)
    concern = locked(concern_id)
    _refuse_unless_followed(concern)
    act = Act(concern, Actor.RAISER, None, raiser_time(concern, now))
    case = _detriment_case_open(act=act, words=words, months=None)
    act.done()
    return case


@transaction.atomic
def concern_aftercare_consent(*, concern_id: int, consent: bool, now: datetime | None = None) -> Concern:
    """A web raiser who left a contact says, on the follow-up page, whether they want to be asked
    how things are after closure (NO: the check-ins are not shown to them)."""
    concern = locked(concern_id)
    _refuse_unless_followed(concern)
    if concern.aftercare_consent != AftercareConsent.ASKED or concern.channel != Channel.WEB:
        raise Conflict("You have already answered.")
    concern.aftercare_consent = AftercareConsent.YES if consent else AftercareConsent.NO
    concern.save(update_fields=["aftercare_consent"])
    return concern


@dataclass(frozen=True)
class TextHandled:
    """What an inbound text did in aftercare: ``handled`` False means it was not about aftercare (the
    SMS conversation carries on as usual); ``reply`` None means reply nothing."""

    handled: bool
    reply: str | None = None


NOT_AFTERCARE = TextHandled(handled=False)


def aftercare_text(*, token: str, body: str, now: datetime) -> TextHandled:
    """A text from the number behind ``token`` (a keyed hash): YES or NO to the consent question, an
    answer to an open check-in, or DETRIMENT and what happened, for a closed concern still keeping
    the number. Anything else is not aftercare's. Within the caller's transaction (the sender locked)."""
    found = (
        Concern.objects.filter(
            contact_token=token, state=State.CLOSED, detriment_of__isnull=True, contact_kept_until__isnull=False
        )
        .order_by("-pk")
        .values_list("pk", flat=True)
        .first()
    )
    if found is None:
        return NOT_AFTERCARE
    concern = locked(found)
    keyword = " ".join(body.strip().upper().split())
    if concern.aftercare_consent == AftercareConsent.ASKED and keyword in ("YES", "NO"):
        return _consent_by_text(concern=concern, consent=keyword == "YES")
    if concern.aftercare_consent != AftercareConsent.YES:
        return NOT_AFTERCARE
    if keyword.startswith(DETRIMENT_WORD):
        act = Act(concern, Actor.RAISER, None, raiser_time(concern, now))
        case = _detriment_case_open(act=act, words=body.strip()[len(DETRIMENT_WORD) :].strip(" :-,"), months=None)
        act.done()
        return TextHandled(
            handled=True,
            reply=f"Candour: thank you. A guardian will look into how you have been treated, reference "
            f"{case.reference}. Reply to this number to add to it.",
        )
    if keyword in SPEAK_UP_WORDS:
        check_in = _open_check_in(concern=concern, now=now)
        if check_in is None:
            return NOT_AFTERCARE
        at = raiser_time(concern, now)
        act = Act(concern, Actor.RAISER, None, at)
        concern.would_speak_up_again = SPEAK_UP_WORDS[keyword]
        act.record(
            EventKind.SPEAK_UP_AGAIN_ANSWERED,
            data={"answer": SPEAK_UP_WORDS[keyword].value, "check_in": check_in.months},
            visible_to_raiser=True,
        )
        check_in.answered_at = at
        act.work.save(check_in, fields=["answered_at"])
        act.done()
        return TextHandled(handled=True, reply="Candour: thank you for your answer.")
    return NOT_AFTERCARE


def _consent_by_text(*, concern: Concern, consent: bool) -> TextHandled:
    if not consent:
        # Purged now; no reply, since a reply would need the number kept to send it.
        concern.aftercare_consent, concern.contact_kept_until = AftercareConsent.NO, None
        concern.save(update_fields=["aftercare_consent", "contact_kept_until"])
        vault_purge_for_concern(concern=concern)
        return TextHandled(handled=True)
    last = CheckIn.objects.filter(concern=concern).order_by("-closes_at").values_list("closes_at", flat=True).first()
    concern.aftercare_consent, concern.contact_kept_until = AftercareConsent.YES, last
    concern.save(update_fields=["aftercare_consent", "contact_kept_until"])
    return TextHandled(
        handled=True,
        reply="Candour: thank you. We will text you to ask how things are. Text STOP at any time and we stop.",
    )


def _ask_batch(*, now: datetime, batch_size: int) -> tuple[int, bool]:
    """One locked batch of check-ins fallen due: each marked asked (once: the row leaves the partial
    index), and texted once to an SMS raiser who agreed, unless it lapsed while the sweep was down."""
    with transaction.atomic():
        due = list(
            CheckIn.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(asked_at__isnull=True, due_at__lte=now)
            .select_related("concern", "concern__unit")
            .order_by("due_at", "pk")[:batch_size]
        )
        if not due:
            return 0, False
        texted = [
            c
            for c in due
            if c.closes_at > now
            and c.concern.aftercare_consent == AftercareConsent.YES
            and c.concern.channel == Channel.SMS
            and c.concern.contact_token
        ]
        for check_in in texted:
            sms_to_raiser(
                concern=check_in.concern, key=f"aftercare:check-in:{check_in.pk}", text=_check_in_text(check_in.months)
            )
        CheckIn.objects.filter(IdsIn(F("pk"), [c.pk for c in due])).update(asked_at=now)
        CheckIn.objects.filter(IdsIn(F("pk"), [c.pk for c in texted])).update(texted=True)
        return len(due), len(due) == batch_size


def _purge_batch(*, now: datetime, batch_size: int) -> bool:
    """One locked batch of closed concerns whose number's time is up (consent never given, or the
    last check-in lapsed): the number is purged as closing always did. Returns whether there is more."""
    with transaction.atomic():
        concerns = list(
            Concern.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(contact_kept_until__lte=now)
            .only("pk", "contact_token", "aftercare_consent", "contact_kept_until")
            .order_by("contact_kept_until", "pk")[:batch_size]
        )
        for concern in concerns:
            if concern.aftercare_consent == AftercareConsent.ASKED:
                concern.aftercare_consent = AftercareConsent.UNANSWERED
            concern.contact_kept_until = None
            concern.save(update_fields=["aftercare_consent", "contact_kept_until"])
            vault_purge_for_concern(concern=concern)
        return len(concerns) == batch_size


def aftercare_sweep(*, now: datetime, batch_size: int = AFTERCARE_BATCH) -> int:
    """Ask every check-in fallen due by ``now`` and purge every number kept past its time; returns how
    many check-ins were asked. Run by the clock sweep; two at once take disjoint rows (SKIP LOCKED)."""
    asked, more = 0, True
    while more:
        count, more = _ask_batch(now=now, batch_size=batch_size)
        asked += count
    while _purge_batch(now=now, batch_size=batch_size):
        pass
    return asked
