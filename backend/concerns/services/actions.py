"""What was done about a concern: actions a guardian or handler agrees (what will change, who owns
it, by when), marked done with evidence, and the sweep step that alerts governors once an action's
due date passes undone.

An action's words (title, owner, evidence) are staff's own and may name people: they live encrypted
on the ConcernAction row; the Events that record them hold its number (``seq``) and dates only.
Its due date is a deadline of its own, but not a Clock: a concern may have many actions at once,
and a Clock is one running per kind per concern. The sweep (services.sweep) calls
``actions_overdue_alert`` after firing clocks, with the same locking (SKIP LOCKED, actions then
concerns) and an "alerted" mark written in the same transaction, so an overdue action opens exactly
one alert however many sweeps run.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import F

from backend.concerns.audit import words_digest
from backend.concerns.facts import Sidelined
from backend.concerns.models import Concern, ConcernAction
from backend.concerns.services.common import Act, actor_for, locked, now_or
from backend.config.db import IdsIn, UnitOfWork
from backend.errors import Conflict, IllegalMove, Invalid, NotFound
from workflows.engine import lifecycle
from workflows.engine.sidelining import Rule
from workflows.engine.vocabulary import UPHELD, EventKind, Outcome

TITLE_MAX = 500
OWNER_MAX = 200
EVIDENCE_MAX = 2000
OVERDUE_BATCH = 500


def action_due_at(due_on: date) -> datetime:
    """The moment an action due on ``due_on`` becomes overdue: the end of that day in England."""
    return datetime.combine(due_on + timedelta(days=1), time.min, tzinfo=ZoneInfo(settings.TIME_ZONE))


def action_subject(*, concern_id: int, seq: int) -> str:
    """The overdue alert's subject: one alert per action. A keyed digest: the alert names no words."""
    return words_digest(f"action-overdue:{concern_id}:{seq}")


@transaction.atomic
def concern_action_record(
    *, concern_id: int, user: User, title: str, owner: str, due_on: date, now: datetime | None = None
) -> ConcernAction:
    """A guardian or handler of the concern agrees an action. Allowed once the concern has closed
    too (actions often outlive the case), never on a withdrawn one. Recording it is activity."""
    now = now_or(now)
    concern = locked(concern_id)
    actor = actor_for(user=user, concern=concern)
    if concern.state == lifecycle.State.WITHDRAWN:
        raise IllegalMove("record_action", concern.state, actor)
    title, owner = title.strip(), owner.strip()
    if not title:
        raise Invalid("Say what will change.")
    if not owner:
        raise Invalid("Say who owns the action.")
    if due_on < now.astimezone(ZoneInfo(settings.TIME_ZONE)).date():
        raise Invalid("The due date has passed: choose today or a later day.")
    act = Act(concern, actor, user.pk, now)
    if concern.state not in lifecycle.TERMINAL:
        act.active()
    # Visible to the raiser as "Action agreed" (the label only, never the words).
    event = act.record(EventKind.ACTION_RECORDED, data={"due_on": due_on.isoformat()}, visible_to_raiser=True)
    action = ConcernAction(
        concern=concern,
        seq=event.seq,
        title=title[:TITLE_MAX],
        owner=owner[:OWNER_MAX],
        due_on=due_on,
        due_at=action_due_at(due_on),
        created_at=now,
    )
    act.work.add(action)
    act.done()
    return action


@transaction.atomic
def concern_action_complete(
    *, concern_id: int, user: User, action: int, evidence: str, now: datetime | None = None
) -> ConcernAction:
    """A guardian or handler marks action number ``action`` (its ``seq``) done, saying what shows it."""
    now = now_or(now)
    concern = locked(concern_id)
    actor = actor_for(user=user, concern=concern)
    row = ConcernAction.objects.filter(concern=concern, seq=action).first()
    if row is None:
        raise NotFound("No such action on this concern.")
    if row.done_at is not None:
        raise Conflict("That action is already done.")
    evidence = evidence.strip()
    if not evidence:
        raise Invalid("Say what shows the action was done.")
    row.done_at, row.evidence = now, evidence[:EVIDENCE_MAX]
    act = Act(concern, actor, user.pk, now)
    if concern.state not in lifecycle.TERMINAL:
        act.active()
    act.record(EventKind.ACTION_DONE, data={"action": row.seq}, visible_to_raiser=True)
    act.work.update([row], ["done_at", "evidence"])
    act.done()
    return row


def close_outcome_record(act: Act, *, outcome: str, no_action_reason: str) -> None:
    """On closing (services.staff.concern_close, the concern locked and moved in ``act``): keep what
    the guardian found. Upheld or partly upheld with no action recorded needs a reason (kept
    encrypted, beside an Event of its own) and opens one "closed without action" alert."""
    if not outcome:
        return
    act.concern.outcome = Outcome(outcome)
    if outcome not in UPHELD or ConcernAction.objects.filter(concern=act.concern).exists():
        return
    if not no_action_reason.strip():
        raise Invalid(
            "This concern was upheld and no action is recorded: record the action first, "
            "or say why nothing will change."
        )
    act.record(EventKind.CLOSED_WITHOUT_ACTION, data={"outcome": outcome}, reason=no_action_reason.strip()[:500])
    act.sidelined(Rule.CLOSED_WITHOUT_ACTION)


def _overdue_batch(*, now: datetime, batch_size: int) -> tuple[int, int, bool]:
    """One locked batch: (actions taken, alerts opened, more)."""
    with transaction.atomic():
        due = list(
            ConcernAction.objects.select_for_update(skip_locked=True)
            .filter(done_at__isnull=True, overdue_alerted_at__isnull=True, due_at__lte=now)
            .order_by("due_at", "pk")
            .values_list("pk", "concern_id", "seq")[:batch_size]
        )
        if not due:
            return 0, 0, False
        # Concerns a person holds locked right now are left for the next sweep (as the clock pass).
        concerns = {
            c.pk: c
            for c in Concern.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("holder", "unit")
            .filter(IdsIn(F("pk"), {concern_id for _, concern_id, _ in due}))
        }
        taken = [row for row in due if row[1] in concerns]
        work = UnitOfWork()
        touched: dict[int, Concern] = {}
        for _, concern_id, seq in taken:
            concern = concerns[concern_id]
            if concern.state == lifecycle.State.WITHDRAWN:
                continue  # the raiser ended it: nobody is answerable for its actions now
            act = Act(concern, lifecycle.Actor.SYSTEM, None, now, work=work)
            act.record(EventKind.ACTION_OVERDUE, data={"action": seq})
            act.sidelined(Rule.ACTION_OVERDUE, subject=action_subject(concern_id=concern_id, seq=seq))
            touched[concern_id] = concern
        ConcernAction.objects.filter(IdsIn(F("pk"), [pk for pk, _, _ in taken])).update(overdue_alerted_at=now)
        work.update(list(touched.values()), ["audit_seq", "audit_head"])
        alerts = work.flush().told.get(Sidelined, 0)
        return len(taken), alerts, len(due) == batch_size and bool(taken)


def actions_overdue_alert(*, now: datetime | None = None, batch_size: int = OVERDUE_BATCH) -> int:
    """Every action whose due date has passed undone opens one "action overdue" alert (its concern's
    governors told), and an Event; each batch commits on its own. Returns the alerts opened."""
    now = now_or(now)
    opened, more = 0, True
    while more:
        _, alerts, more = _overdue_batch(now=now, batch_size=batch_size)
        opened += alerts
    return opened
