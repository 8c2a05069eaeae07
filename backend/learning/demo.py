"""A little "you said, we did" for the demo (after demo_history): published summaries on Northshire
Hospitals' public page, one shared as a lesson that the community trust has marked, and one waiting
for a second guardian, so each page has something real to show. Written through the services by the
demo guardian and a deputy guardian of the trust, dated in the past by ``now``."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.utils import timezone

from backend.concerns.models import Event
from backend.learning import services
from backend.learning.models import Summary
from backend.organisations.models import Membership, Organisation, Role
from workflows.engine import lifecycle
from workflows.engine.vocabulary import EventKind

SUMMARIES = (
    "You told us night shifts were often left with one registered nurse. We now roster two registered "
    "nurses on every night shift, and the matron checks the rota each week.",
    "You told us call bells went unanswered at handover. Handover now happens at the bedside, and one "
    "member of the team stays on the floor to answer calls.",
    "You told us new starters were not shown how to report an incident. Every induction now includes "
    "reporting, and each team has a named person to ask.",
    "You told us staff felt unable to challenge poor behaviour in theatre. We now run a short "
    "huddle before each list where anyone can raise a worry.",
)
UNIT_TYPES = {"RNX07": "acute_ward", "RNXMAT": "maternity"}


def learning_demo_seed(*, now: datetime | None = None) -> int:
    """Once (nothing if any summary exists); returns how many summaries it wrote."""
    if Summary.objects.exists():
        return 0
    now = now or timezone.now()
    users = get_user_model().objects
    guardian = users.get(username="guardian")
    deputy, _ = users.get_or_create(username="guardian-deputy", defaults={"email": "deputy@candour.invalid"})
    trust = Organisation.objects.get(code="RNX")
    Membership.objects.get_or_create(user=deputy, organisation=trust, role=Role.GUARDIAN)
    this_quarter, _ = services.publish_from(now)
    closes = list(
        Event.objects.filter(
            kind=EventKind.CLOSE,
            concern__state=lifecycle.State.CLOSED,
            concern__unit__path__startswith=trust.path,
        )
        .select_related("concern", "concern__unit")
        .order_by("-created_at")[:200]
    )
    earlier = [e for e in closes if services.publish_from(e.created_at)[0] < this_quarter]
    written = 0
    for i, (event, words) in enumerate(zip(earlier, SUMMARIES[:3], strict=False)):
        at = event.created_at + timedelta(days=2)
        summary = services.summary_write(
            concern_id=event.concern_id,
            user=guardian,
            text=words,
            checklist=list(services.SUMMARY_CHECKLIST),
            now=at,
        )
        services.summary_approve(summary_id=summary.pk, user=deputy, now=at + timedelta(days=1))
        written += 1
        if i == 0:
            lesson = services.lesson_share(
                summary_id=summary.pk,
                user=guardian,
                title="Two registered nurses on every night shift",
                themes=list(event.concern.themes),
                unit_type=UNIT_TYPES.get(event.concern.unit.code, "other"),
                now=max(now, summary.publish_at),
            )
            services.lesson_mark(lesson_id=lesson.pk, user=users.get(username="guardian-community"), now=now)
    recent = [e for e in closes if e not in earlier][:1]
    for event in recent:  # waiting for the deputy: the approval list has one to show
        services.summary_write(
            concern_id=event.concern_id,
            user=guardian,
            text=SUMMARIES[3],
            checklist=list(services.SUMMARY_CHECKLIST),
            now=now,
        )
        written += 1
    return written
