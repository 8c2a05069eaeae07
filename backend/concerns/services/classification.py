"""What a concern is counted as: its guardian corrects its themes and its raiser's professional group,
which the quarterly speaking-up data return counts it under (backend.oversight.figures moves the
counts from what it was to what it is, in the quarter it was received)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction

from backend.concerns import scope
from backend.concerns.models import Concern
from backend.concerns.services.common import Act, locked_for_guardian, now_or
from backend.errors import Forbidden, Invalid
from workflows.engine.lifecycle import Actor
from workflows.engine.vocabulary import EventKind, ProfessionalGroup, Theme

AT_ORIGIN_ONLY = "Only the guardian where the concern was raised corrects how it is counted."


@transaction.atomic
def concern_reclassify(
    *,
    concern_id: int,
    user: User,
    themes: Sequence[Theme | str] | None = None,
    professional_group: ProfessionalGroup | str | None = None,
    now: datetime | None = None,
) -> Concern:
    """The guardian at the concern's origin corrects its themes (at least one; None leaves them) and
    its raiser's professional group ("" for not recorded; None leaves it), in any state: a return is
    often corrected after a case has closed. One audited Event holds what it was and what it is,
    vocabulary values only, never words; nothing changes, and nothing is recorded, if nothing differs.
    Not recorded activity: counting a case right does not answer its raiser."""
    now = now_or(now)
    concern = locked_for_guardian(
        concern_id=concern_id, user=user, refusal="Only the guardian corrects how a concern is counted."
    )
    if scope.outside_origin(user=user, concern=concern):
        raise Forbidden(AT_ORIGIN_ONLY)
    changed: dict[str, Any] = {}
    was: dict[str, Any] = {}
    if themes is not None:
        try:
            chosen = sorted({Theme(t).value for t in themes})
        except ValueError as unknown:
            raise Invalid("choose themes from the list") from unknown
        if not chosen:
            raise Invalid("choose at least one theme")
        if chosen != sorted(concern.themes):
            changed["themes"], was["themes"] = chosen, list(concern.themes)
            concern.themes = chosen
    if professional_group is not None:
        try:
            group = ProfessionalGroup(professional_group).value if professional_group else ""
        except ValueError as unknown:
            raise Invalid("choose a professional group from the list") from unknown
        if group != concern.professional_group:
            changed["group"], was["group"] = group, concern.professional_group
            concern.professional_group = group
    if not changed:
        return concern
    act = Act(concern, Actor.GUARDIAN, user.pk, now)
    act.record(EventKind.RECLASSIFIED, data={**changed, "was": was})
    return act.done(fields=["themes", "professional_group", "audit_seq", "audit_head"])
