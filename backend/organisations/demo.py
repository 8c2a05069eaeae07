"""A fictional integrated care system for the demo and for tests: every role has a user.

Every demo user whose role needs a second factor at sign-in (backend/organisations/second_factor.py)
holds one-time backup codes, topped up to ``DEMO_BACKUP_CODES`` unused ones each time the demo is
seeded, so `make run` can print a working code for each (each code works once). The handler signs in
with the password alone: the second factor is optional for handlers.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction

from backend.organisations.models import Membership, Organisation, OrganisationKind, Role
from backend.organisations.second_factor import backup_codes_top_up, second_factor_required_of

DEMO_PASSWORD = "candour-demo-2026"
DEMO_BACKUP_CODES = 5

K = OrganisationKind
# code, name, kind, parent code, escalates-to code. Listed so that every target exists before it is named.
ORGANISATIONS: tuple[tuple[str, str, str, str | None, str | None], ...] = (
    ("RGX", "National Care Regulator", K.REGULATOR, None, None),
    ("QNX", "NHS Northshire Integrated Care Board", K.ICB, None, "RGX"),
    ("RNXB", "Northshire Hospitals Trust Board", K.TRUST_BOARD, None, "QNX"),
    ("RNX", "Northshire Hospitals NHS Foundation Trust", K.PROVIDER, None, "RNXB"),
    ("RNX07", "Ward 7, Acute Medicine", K.UNIT, "RNX", "RNX"),
    ("RNXMAT", "Maternity Unit", K.UNIT, "RNX", "RNX"),
    ("RCXB", "Northshire Community Health Trust Board", K.TRUST_BOARD, None, "QNX"),
    ("RCX", "Northshire Community Health NHS Trust", K.PROVIDER, None, "RCXB"),
    ("RCXDNE", "District Nursing Team East", K.UNIT, "RCX", "RCX"),
    ("RCXMHC", "Mental Health Crisis Team", K.UNIT, "RCX", "RCX"),
    ("HWX", "Healthwatch Northshire", K.PATIENT_GROUP, None, None),
)

SMS_NUMBERS = {"RNX": "+447700900101", "RCX": "+447700900102"}
GOVERNS = (("RNXB", "RNX"), ("RCXB", "RCX"))

R = Role
# username, role, organisation code
USERS: tuple[tuple[str, str, str], ...] = (
    ("guardian", R.GUARDIAN, "RNX"),
    ("handler", R.HANDLER, "RNX07"),
    ("governor", R.GOVERNOR, "RNXB"),
    ("guardian-community", R.GUARDIAN, "RCX"),
    ("commissioner", R.COMMISSIONER, "QNX"),
    ("icb-guardian", R.GUARDIAN, "QNX"),
    ("regulator", R.REGULATOR, "RGX"),
    ("patient-group", R.PATIENT_GROUP, "HWX"),
    ("admin", R.ADMINISTRATOR, "QNX"),
)


@dataclass(frozen=True)
class DemoSeedResult:
    created: bool
    logins: tuple[tuple[str, str, str], ...]
    # username -> that user's unused backup codes (none for a user who needs no second factor)
    backup_codes: dict[str, list[str]]


@transaction.atomic
def demo_seed() -> DemoSeedResult:
    """Create the demo world once; running it again changes nothing but topping up used backup codes."""
    logins = tuple((username, role, code) for username, role, code in USERS)
    created = not Organisation.objects.filter(code=ORGANISATIONS[0][0]).exists()
    if created:
        _demo_world_create()
    users = list(get_user_model().objects.filter(username__in=[username for username, _, _ in USERS]))
    codes = backup_codes_top_up(users=second_factor_required_of(users), at_least=DEMO_BACKUP_CODES)
    return DemoSeedResult(created=created, logins=logins, backup_codes=codes)


def _demo_world_create() -> None:
    by_code: dict[str, Organisation] = {}
    for code, name, kind, parent, escalates_to in ORGANISATIONS:
        by_code[code] = Organisation.objects.create(
            code=code,
            name=name,
            kind=kind,
            parent=by_code[parent] if parent else None,
            escalates_to=by_code[escalates_to] if escalates_to else None,
        )
    for board, trust in GOVERNS:
        Organisation.objects.filter(code=board).update(governs=by_code[trust])
    Organisation.objects.filter(code__in=["RNX", "RCX"]).update(commissioned_by=by_code["QNX"])
    # Numbers from Ofcom's range for drama: they belong to nobody.
    for code, number in SMS_NUMBERS.items():
        Organisation.objects.filter(code=code).update(sms_number=number)
    user_model = get_user_model()
    for username, role, code in USERS:
        user = user_model.objects.create_user(
            username=username,
            email=f"{username}@candour.invalid",
            password=DEMO_PASSWORD,
            is_staff=role == Role.ADMINISTRATOR,
            is_superuser=role == Role.ADMINISTRATOR,
        )
        Membership.objects.create(user=user, organisation=by_code[code], role=role)
