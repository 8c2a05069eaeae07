"""Two years of the demo care system's history, so a newcomer's first look has something real in it:
concerns raised week by week on each demo ward and team, acknowledged, answered and closed as a
guardian would, raisers saying whether they would speak up again, and three changes early warning is
there to catch: Ward 7's concerns more than doubled five weeks ago, District Nursing Team East has
gone quiet, and last month most of those who had spoken up at Northshire Hospitals said they would
not speak up again. The figures are folded and the nightly early-warning pass is run, so the governor
sees its signals at once. Fictional, like every demo organisation and person.

Raised through intake's own import (``concern_import``: nobody is told of history), moved through the
services as staff would move them, at the times they would have; so the audit chains, the figures
and the weekly series are what a real two years would have left."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.utils import timezone

from backend.concerns import services
from backend.concerns.models import Concern
from backend.organisations.models import Organisation
from backend.oversight.figures import figures_rollup, week_of
from backend.oversight.indicators import indicators_import
from backend.oversight.signals import signals_detect
from workflows.engine.vocabulary import Theme


@dataclass(frozen=True)
class WardHistory:
    code: str
    guardian: str  # the demo guardian of its trust
    usual: float  # concerns a week
    lately: float  # concerns a week over the last ``weeks_lately`` weeks
    weeks_lately: int


WARDS = (
    WardHistory("RNX07", "guardian", usual=2.0, lately=5.0, weeks_lately=5),  # concerns more than doubled
    WardHistory("RNXMAT", "guardian", usual=1.5, lately=1.5, weeks_lately=0),
    WardHistory("RCXDNE", "guardian-community", usual=2.0, lately=0.0, weeks_lately=6),  # gone quiet
    WardHistory("RCXMHC", "guardian-community", usual=1.0, lately=1.0, weeks_lately=0),
)
WEEKS = 104
SEED = 2026
# The trust whose raisers, answering last month, mostly said they would not speak up again.
UNHEARD_TRUST = "/RNX/"

# Fictional and general: nothing here names anyone.
WHAT_HAPPENED = (
    "Night shifts have run one nurse short for weeks and checks are being missed.",
    "A senior colleague shouts at junior staff in front of patients.",
    "Medicines were left on a trolley in the corridor overnight.",
    "Concerns raised at handover are not written down or followed up.",
    "Patients have waited hours for pain relief because nobody is free to give it.",
    "Staff are told not to report incidents because it makes the ward look bad.",
    "Equipment that failed a safety check is still being used.",
    "Visiting relatives are spoken to rudely when they ask questions.",
)
FEEDBACK = (
    "Thank you for speaking up. The rota now has a second nurse on nights and the matron checks it weekly.",
    "We looked into this with the ward manager; training has been arranged and we will check back in a month.",
    "The equipment has been taken out of use and replaced; the checks are now recorded on the ward.",
)


def _at(monday: datetime, rng: random.Random) -> datetime:
    return monday + timedelta(days=rng.randrange(7), hours=rng.randrange(8, 20), minutes=rng.randrange(60))


def _poisson(rate: float, rng: random.Random) -> int:
    """Knuth's method: few draws at these small rates, and no numpy needed for a demo."""
    limit, count, product = pow(2.718281828459045, -rate), 0, rng.random()
    while product > limit:
        count, product = count + 1, product * rng.random()
    return count


def demo_history_seed(*, now: datetime | None = None, progress: Callable[[str], None] | None = None) -> int:
    """Seed the history once (nothing if any concern exists); returns how many concerns it raised."""
    if Concern.objects.exists():
        return 0
    now = now or timezone.now()
    rng = random.Random(SEED)
    users = get_user_model().objects
    guardians = {name: users.get(username=name) for name in {w.guardian for w in WARDS}}
    this_week = timezone.make_aware(datetime.combine(week_of(now), time()))
    raised = 0
    for back in range(WEEKS, 0, -1):
        monday = this_week - timedelta(weeks=back)
        for ward in WARDS:
            unit = Organisation.objects.get(code=ward.code)
            rate = ward.lately if back <= ward.weeks_lately else ward.usual
            for _ in range(_poisson(rate, rng)):
                _one(unit=unit, at=_at(monday, rng), guardian=guardians[ward.guardian], now=now, rng=rng)
                raised += 1
        if progress and back % 13 == 0:
            progress(f"  {WEEKS - back + 1} of {WEEKS} weeks, {raised} concerns")
    figures_rollup(now=now)
    signals_detect(now=now)
    indicators_import(source=_indicator_lines(now=now, rng=rng))
    return raised


def _indicator_lines(*, now: datetime, rng: random.Random) -> list[str]:
    """Other indicators to read beside the concerns, as a trust would import them: complaints each
    month, and the staff survey's "I would feel secure raising concerns" each autumn, falling at
    Northshire Hospitals as its raisers stop saying they would speak up again."""
    lines = ["organisation,indicator,label,month,value,source\n"]
    month = now.date().replace(day=1)
    for _ in range(WEEKS // 4 + 1):
        month = (month - timedelta(days=1)).replace(day=1)
        for code, usual in (("RNX", 38), ("RCX", 14)):
            complaints = usual + rng.randrange(-6, 7)
            lines.append(f"{code},complaints,Complaints received,{month:%Y-%m},{complaints},Complaints register\n")
        if month.month == 10:
            secure = {"RNX": 61.0 if month.year < now.year else 52.5, "RCX": 66.0 if month.year < now.year else 67.5}
            for code, share in secure.items():
                lines.append(
                    f"{code},staff_survey_secure_raising,Staff who would feel secure raising concerns (%),"
                    f"{month:%Y-%m},{share},NHS Staff Survey {month.year}\n"
                )
    return lines


# Staff raisers' professional groups in the demo (one in five not recorded), for the quarterly return.
_DEMO_GROUPS = ("nurses_midwives", "medical_dental", "nursing_assistants", "allied_health", "", "admin_clerical")


def _one(*, unit: Organisation, at: datetime, guardian: User, now: datetime, rng: random.Random) -> None:
    mode = rng.choices(["anonymous", "confidential", "named"], weights=[5, 3, 2])[0]
    kind = rng.choices(["staff", "patient", "carer"], weights=[6, 2, 2])[0]
    draft = services.ConcernDraft(
        unit=unit,
        raiser_kind=kind,
        # The quarterly return's groups, from the time alone so the demo's random story is unchanged.
        professional_group=_DEMO_GROUPS[(at.day + at.hour) % len(_DEMO_GROUPS)] if kind == "staff" else kind,
        identity_mode=mode,
        raiser_name="" if mode == "anonymous" else "A. Demo Raiser",
        raiser_contact="" if mode == "anonymous" else "raiser@example.invalid",
        themes=rng.sample([t.value for t in Theme], k=rng.choice([1, 1, 2])),
        what_happened=rng.choice(WHAT_HAPPENED),
    )
    concern = services.concern_import(draft=draft, at=at)
    age = now - at
    if age < timedelta(days=2):
        return  # new: waiting to be acknowledged
    late = rng.random() < 0.1
    services.concern_acknowledge(concern_id=concern.pk, user=guardian, now=at + timedelta(days=4 if late else 1))
    if age < timedelta(weeks=6):
        return  # still being looked into
    if rng.random() < 0.06:
        # Closed without feedback: the sidelining alert governors should see.
        services.concern_close(
            concern_id=concern.pk,
            user=guardian,
            reason="Raiser stopped replying.",
            now=at + timedelta(days=40),
        )
        return
    services.concern_give_feedback(
        concern_id=concern.pk,
        user=guardian,
        feedback=rng.choice(FEEDBACK),
        now=at + timedelta(days=30),
    )
    services.concern_close(
        concern_id=concern.pk, user=guardian, reason="Feedback given; actions in place.", now=at + timedelta(days=35)
    )
    answered = at + timedelta(days=36)
    this_month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    last_month = (this_month - timedelta(days=1)).replace(day=1)
    unheard = unit.path.startswith(UNHEARD_TRUST) and last_month <= answered < this_month
    answer = rng.choices(["yes", "no", "maybe"], weights=[1, 8, 1] if unheard else [7, 1, 2])[0]
    services.concern_answer_speak_up_again(concern_id=concern.pk, answer=answer, now=answered)
