from __future__ import annotations

from backend.organisations.models import Organisation, OrganisationKind


def units_for_raising() -> list[Organisation]:
    return list(Organisation.objects.filter(kind=OrganisationKind.UNIT).select_related("parent").order_by("name"))
