"""The automatic check a "you said, we did" summary passes before anyone else reads it: no name of
a member of staff of the organisation, and no number. What it finds is said back exactly, so the
guardian can edit; it never guesses at what might be a name beyond the organisation's own staff
(the checklist the guardian confirms covers the rest: names, dates, places, rare roles)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db.models import Q

from backend.organisations.models import Membership, Organisation, OrganisationKind

# Digits, with the separators a phone number, a date or a time is written with, as one finding:
# "07700 900123" is one number to remove, not two.
_NUMBER = re.compile(r"\d(?:[\d\s./:\-]*\d)?")


@dataclass(frozen=True)
class Finding:
    what: str  # "name" or "number"
    text: str  # exactly as it stands in the summary

    def __str__(self) -> str:
        if self.what == "name":
            return f"the name “{self.text}” (a member of staff here)"
        return f"the number “{self.text}”"


def staff_names(*, organisation: Organisation) -> set[str]:
    """First, last and full names of everyone with a role in the organisation or below it, and on
    the board that governs it (its non-executive directors are named in its papers)."""
    here = Q(organisation__path__startswith=organisation.path) | Q(organisation__governs=organisation)
    users = User.objects.filter(pk__in=Membership.objects.filter(here).values("user_id")).values_list(
        "first_name", "last_name"
    )
    names: set[str] = set()
    for first, last in users:
        parts = [p.strip() for p in (first, last) if p and p.strip()]
        names.update(parts)
        if len(parts) == 2:
            names.add(" ".join(parts))
    return names


def identifying_found(*, text: str, names: set[str]) -> list[Finding]:
    """Staff names (whole words, any case) and numbers in ``text``, in the order they stand."""
    found: list[tuple[int, Finding]] = []
    for name in sorted(names, key=len, reverse=True):
        for match in re.finditer(rf"(?<!\w){re.escape(name)}(?!\w)", text, flags=re.IGNORECASE):
            if not any(start <= match.start() < start + len(f.text) for start, f in found):
                found.append((match.start(), Finding("name", match.group(0))))
    found += [(m.start(), Finding("number", m.group(0).strip())) for m in _NUMBER.finditer(text)]
    return [f for _, f in sorted(found, key=lambda pair: pair[0])]


def reporting_organisation(unit: Organisation) -> Organisation:
    """The organisation whose public page a concern about ``unit`` counts under: the nearest provider
    on its path (itself if it is one), else the top of its path, as the public figures count it."""
    codes = unit.path.strip("/").split("/")
    orgs = {o.code: o for o in Organisation.objects.filter(code__in=codes)}
    providers = [orgs[c] for c in reversed(codes) if c in orgs and orgs[c].kind == OrganisationKind.PROVIDER]
    return providers[0] if providers else orgs[codes[0]]
