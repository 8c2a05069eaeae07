"""Read-only queries for what a raiser sees after their concern closed (services.aftercare)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.utils import timezone

from backend.concerns.models import AftercareConsent, Channel, CheckIn, Concern
from backend.concerns.selectors import RaiserClock, raiser_clock
from workflows.engine.lifecycle import State
from workflows.engine.vocabulary import STATE_LABELS


@dataclass(frozen=True)
class OpenCheckIn:
    months: int
    answer_by: date  # the last day it may be answered (it lapses when the next falls due)


@dataclass(frozen=True)
class DetrimentCaseView:
    """A detriment case the raiser reported after closure, as they see it: no receipt of its own."""

    reference: str
    state_label: str
    received_on: date
    clock: RaiserClock | None


@dataclass(frozen=True)
class RaiserAftercare:
    """After closure: the consent question (a web raiser who left a contact, not answered yet), the
    check-in open now (None when none is, or they said they do not want to be asked), and the
    detriment cases they have reported, newest first."""

    ask_consent: bool
    check_in: OpenCheckIn | None
    cases: list[DetrimentCaseView]


def raiser_aftercare(*, concern: Concern, now: datetime | None = None) -> RaiserAftercare | None:
    """What the follow-up page shows of aftercare; None until the concern is closed (and for a
    detriment case itself, followed through the concern it follows)."""
    if concern.state != State.CLOSED or concern.detriment_of_id is not None:
        return None
    now = now or timezone.now()
    open_check_in = None
    if concern.aftercare_consent != AftercareConsent.NO:
        row = (
            CheckIn.objects.filter(concern=concern, due_at__lte=now, closes_at__gt=now, answered_at__isnull=True)
            .order_by("-due_at")
            .values_list("months", "closes_at")
            .first()
        )
        if row is not None:
            tz = concern.holder.calendar.tz
            # The day before it closes, where the concern was held: closes_at is the next one's start.
            open_check_in = OpenCheckIn(months=row[0], answer_by=(row[1].astimezone(tz) - _A_MOMENT).date())
    cases = [
        DetrimentCaseView(
            reference=case.reference,
            state_label=STATE_LABELS[case.state],
            received_on=case.received_on,
            clock=raiser_clock(concern=case, now=now),
        )
        for case in Concern.objects.filter(detriment_of=concern).select_related("holder").order_by("-pk")
    ]
    return RaiserAftercare(
        ask_consent=concern.channel == Channel.WEB and concern.aftercare_consent == AftercareConsent.ASKED,
        check_in=open_check_in,
        cases=cases,
    )


_A_MOMENT = timedelta(microseconds=1)
