"""Conflicts of interest: who must not handle a concern, and the refusal to place it with them.

Three ways someone comes to be conflicted on a concern: the raiser names them (their own words, or a
role such as their line manager: rows written with the raise, intake), a member of staff declares a
conflict on it themselves, or the guardian names someone (often resolving the raiser's naming to a
person, since Candour holds no line-management data). Each declaration by staff is an Event of the
audit chain, with its reason (if any) encrypted in a Reason beside it, like staff's other words.

Candour never places a concern with a conflicted person: ``concern_assign`` (services.staff) asks
``handler_conflicted`` and, if so, records the attempt and opens a sidelining alert before refusing.
"""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import User
from django.db import transaction

from backend.concerns import scope
from backend.concerns.audit import words_digest
from backend.concerns.models import RAISER_NAMING, Concern, ConflictBasis, ConflictOfInterest
from backend.concerns.services.common import Act, actor_for, locked, now_or
from backend.errors import ConflictedHandler, Forbidden, Invalid
from backend.organisations.models import Membership
from workflows.engine.lifecycle import Actor
from workflows.engine.sidelining import Rule
from workflows.engine.vocabulary import EventKind

REASON_MAX = 500


def handler_conflicted(*, concern: Concern, person: User) -> bool:
    """Whether ``person`` must not handle ``concern``: named by the raiser (once the guardian has said
    who that is), by the guardian, or declared by themselves."""
    return ConflictOfInterest.objects.filter(concern=concern, person=person).exists()


def conflict_subject(*, concern: Concern, person: User) -> str:
    """The alert's subject for a conflicted placement: one alert per concern and person tried. A
    keyed digest, so the alert row itself says nothing of who was tried."""
    return words_digest(f"conflicted-placement:{concern.pk}:{person.pk}")


def conflicted_refusal(*, person: User) -> ConflictedHandler:
    """What the guardian is told: who cannot take it (they chose them), never who named them or why."""
    name = person.get_full_name() or person.get_username()
    return ConflictedHandler(
        f"{name} cannot handle this concern: a conflict of interest is recorded for them. "
        "Choose someone else. The attempt has been recorded and governors can see that it was made."
    )


def conflicted_placement_record(*, concern: Concern, user: User, person: User, now: datetime) -> None:
    """The refused attempt (the concern locked by the caller): an Event of the chain, and one
    sidelining alert per concern and person (a second attempt records its Event, opens no alert)."""
    act = Act(concern, Actor.GUARDIAN, user.pk, now)
    act.record(EventKind.ASSIGN_REFUSED, data={"handler": person.pk})
    act.sidelined(Rule.CONFLICTED_ASSIGNMENT, subject=conflict_subject(concern=concern, person=person))
    act.done(fields=["audit_seq", "audit_head"])


@transaction.atomic
def concern_conflict_declare(
    *,
    concern_id: int,
    user: User,
    person: User | None = None,
    resolves: str = "",
    reason: str = "",
    now: datetime | None = None,
) -> ConflictOfInterest:
    """A conflict of interest on a concern: ``user`` declares their own (``person`` None or
    themselves), or the concern's guardian names ``person`` (``resolves``: which of the raiser's
    naming this answers, a RAISER_NAMING value, or "" for the guardian's own knowledge). ``reason``
    (optional) is kept encrypted, for the guardian. The same declaration again records nothing new.
    Declaring is not "recorded activity" on the concern: it does not answer the raiser."""
    now = now_or(now)
    concern = locked(concern_id)
    own = person is None or person.pk == user.pk
    if own:
        if not scope.may_declare_conflict(user=user, concern=concern):
            raise Forbidden("Only those who handle this concern, or could, declare a conflict of interest on it.")
        if resolves:
            raise Invalid("Only the guardian says who the raiser meant.")
        person, basis, actor = user, ConflictBasis.DECLARED, _actor_for_or_handler(user=user, concern=concern)
    else:
        assert person is not None
        actor = actor_for(user=user, concern=concern)
        if actor is not Actor.GUARDIAN:
            raise Forbidden("Only the guardian names someone else who must not handle this concern.")
        if not Membership.objects.filter(user=person).exists():
            raise Invalid("Name a member of staff.")
        basis = ConflictBasis.GUARDIAN
        if resolves:
            if resolves not in RAISER_NAMING:
                raise Invalid("Say which of the raiser's answers this person is, or none.")
            if not ConflictOfInterest.objects.filter(concern=concern, basis=resolves, person=None).exists():
                raise Invalid("The raiser did not name that.")
    earlier = ConflictOfInterest.objects.filter(concern=concern, person=person, basis=basis, resolves=resolves).first()
    if earlier is not None:
        return earlier
    act = Act(concern, actor, user.pk, now)
    # Ids and codes only in the link; the reason is the Reason of the same seq (encrypted).
    event = act.record(
        EventKind.CONFLICT_DECLARED,
        data={"person": person.pk, "basis": str(basis), "resolves": resolves},
        reason=reason.strip()[:REASON_MAX],
    )
    conflict = ConflictOfInterest(
        concern=concern, basis=basis, person=person, resolves=resolves, seq=event.seq, created_at=now
    )
    act.work.add(conflict)
    act.done(fields=["audit_seq", "audit_head"])
    return conflict


def _actor_for_or_handler(*, user: User, concern: Concern) -> Actor:
    """The role a declarant acts in: theirs on the concern, or a handler's (one it could be placed with)."""
    return scope.actor_for(user=user, concern=concern) or Actor.HANDLER
