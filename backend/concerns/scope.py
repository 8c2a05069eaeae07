"""Who may see and work which concerns: the one place that turns memberships into query filters.

- guardian: every concern held in the subtree of their organisation, and a read-only view of those
  about their subtree that have been escalated beyond it;
- handler: concerns placed with them (assigned), while held in their subtree;
- governor: that a concern exists (no narrative, no identity) when it is about the trust their board
  governs, or held by the board itself;
- commissioner: the same for the providers their integrated care board commissions, or held by it;
- regulator: concerns escalated to them.
Everyone else: nothing.
"""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Q, QuerySet

from backend.concerns.models import Concern
from backend.organisations.models import Membership, Organisation, Role
from workflows.engine.lifecycle import Actor

NOTHING = Q(pk__in=[])


def _memberships(user: User | AnonymousUser, roles: set[str]) -> list[Membership]:
    if not user.is_authenticated:
        return []
    return list(
        Membership.objects.filter(user=user, role__in=roles).select_related("organisation", "organisation__governs")
    )


def handling_q(*, user: User | AnonymousUser) -> Q:
    """What a guardian or handler may open. A guardian also keeps a read-only view of concerns about
    their subtree after they have been escalated beyond it (actor_for gives them no moves there)."""
    q = NOTHING
    for m in _memberships(user, {Role.GUARDIAN, Role.HANDLER}):
        in_subtree = Q(holder__path__startswith=m.organisation.path)
        if m.role == Role.GUARDIAN:
            q |= in_subtree | Q(unit__path__startswith=m.organisation.path)
        else:
            q |= in_subtree & Q(assignee=user)
    return q


def oversight_q(*, user: User | AnonymousUser) -> Q:
    """Three queries at most, however many memberships: memberships, then commissioned providers.
    One flat OR built once: a commissioner of many boards reaches hundreds of providers, and folding
    them in one ``|=`` at a time copies the growing Q each time."""
    conditions: list[tuple[str, str]] = []
    commissioners: list[int] = []
    for m in _memberships(user, {Role.GOVERNOR, Role.COMMISSIONER, Role.REGULATOR}):
        org = m.organisation
        conditions.append(("holder__path__startswith", org.path))
        if m.role == Role.GOVERNOR and org.governs is not None:
            conditions.append(("unit__path__startswith", org.governs.path))
        elif m.role == Role.COMMISSIONER:
            commissioners.append(org.pk)
    if commissioners:
        paths = Organisation.objects.filter(commissioned_by__in=commissioners).values_list("path", flat=True)
        conditions += [("unit__path__startswith", path) for path in paths]
    return Q(*conditions, _connector=Q.OR) if conditions else NOTHING


def actor_for(*, user: User, concern: Concern) -> Actor | None:
    """The role a member of staff acts in on this concern, or None: guardian wins over handler."""
    handling = _memberships(user, {Role.GUARDIAN, Role.HANDLER})
    roles = {m.role for m in handling if concern.holder.path.startswith(m.organisation.path)}
    if Role.GUARDIAN in roles:
        return Actor.GUARDIAN
    if Role.HANDLER in roles and concern.assignee_id == user.pk:
        return Actor.HANDLER
    return None


def outside_origin(*, user: User, concern: Concern) -> bool:
    """True when the user handles it only as a body further up the route, not in the provider it is about."""
    return not any(
        concern.unit.path.startswith(m.organisation.path) for m in _memberships(user, {Role.GUARDIAN, Role.HANDLER})
    )


def may_be_assigned(*, user: User, concern: Concern) -> bool:
    """A handler can take a concern held in a subtree where they handle."""
    return any(concern.holder.path.startswith(m.organisation.path) for m in _memberships(user, {Role.HANDLER}))


def may_declare_conflict(*, user: User, concern: Concern) -> bool:
    """Who may declare their own conflict of interest on a concern: those who handle it, and those
    it could be placed with (a handler where it is held), who may not otherwise see it."""
    return actor_for(user=user, concern=concern) is not None or may_be_assigned(user=user, concern=concern)


def concerns_visible_q_subquery(*, user: User | AnonymousUser) -> QuerySet[Concern]:
    """Ids of every concern the user may know of, as handler or overseer, for use in a subquery."""
    return Concern.objects.filter(handling_q(user=user) | oversight_q(user=user)).values("pk")


def units_watched_q(*, user: User | AnonymousUser, through: str = "unit__") -> Q:
    """The units whose early-warning signals the user sees (``through``: the path to the unit from
    the model filtered): a guardian's subtree (their organisation's wards and teams), the trust a
    governor's board governs, the providers a commissioner commissions. Patterns, not concerns: a
    signal names a unit and a count, never a concern or a raiser."""
    conditions: list[tuple[str, str]] = []
    commissioners: list[int] = []
    for m in _memberships(user, {Role.GUARDIAN, Role.GOVERNOR, Role.COMMISSIONER}):
        org = m.organisation
        if m.role == Role.GUARDIAN:
            conditions.append((f"{through}path__startswith", org.path))
        elif m.role == Role.GOVERNOR and org.governs is not None:
            conditions.append((f"{through}path__startswith", org.governs.path))
        elif m.role == Role.COMMISSIONER:
            commissioners.append(org.pk)
    if commissioners:
        paths = Organisation.objects.filter(commissioned_by__in=commissioners).values_list("path", flat=True)
        conditions += [(f"{through}path__startswith", path) for path in paths]
    return Q(*conditions, _connector=Q.OR) if conditions else NOTHING
