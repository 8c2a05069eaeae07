from __future__ import annotations

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Q

from backend.organisations.models import Membership, Organisation, OrganisationKind, Role


def organisation_scope_q(*, user: User | AnonymousUser, roles: set[str] | set[Role], field: str) -> Q:
    """A filter matching rows whose ``field`` (an Organisation) lies in a subtree where the user
    holds one of ``roles``. No membership gives a filter that matches nothing."""
    if not user.is_authenticated:
        return Q(pk__in=[])
    paths = Membership.objects.filter(user=user, role__in=roles).values_list("organisation__path", flat=True)
    q = Q(pk__in=[])
    for path in paths:
        q |= Q(**{f"{field}__path__startswith": path})
    return q


def units_for_raising() -> list[Organisation]:
    return list(Organisation.objects.filter(kind=OrganisationKind.UNIT).select_related("parent").order_by("name"))
