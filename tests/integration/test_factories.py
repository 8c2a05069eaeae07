"""tests/support/factories.py: its care systems are wired as the demo's are, and its concerns are
raised by the intake service, with everything a raise writes."""

from __future__ import annotations

import pytest

from backend.concerns import services
from backend.concerns.audit import BrokenLink, audit_verify
from backend.concerns.models import Clock, Event, Receipt
from backend.organisations.models import Membership, Organisation, OrganisationKind, Role
from backend.oversight.figures import THEME_BUCKETS
from backend.oversight.models import FigureDelta
from notifications.models import Delivery
from tests.support.factories import (
    CareSystemFactory,
    ConcernFactory,
    RaisedConcernFactory,
    StaffFactory,
    WardFactory,
)

pytestmark = pytest.mark.django_db

K = OrganisationKind


def test_a_ward_brings_its_whole_route_wired_as_the_demo_wires_its_own() -> None:
    ward = WardFactory()
    route = [ward]
    while route[-1].escalates_to is not None:
        route.append(route[-1].escalates_to)
    assert [o.kind for o in route] == [K.UNIT, K.PROVIDER, K.TRUST_BOARD, K.ICB, K.REGULATOR]
    _, trust, board, icb, _ = (Organisation.objects.get(pk=o.pk) for o in route)
    assert ward.parent == trust and ward.path == f"/{trust.code}/{ward.code}/"
    assert board.governs == trust  # stored, not only set on the object
    assert trust.commissioned_by == icb
    assert len({o.code for o in route}) == 5


def test_a_care_system_shares_one_trust_and_two_systems_share_nothing() -> None:
    system = CareSystemFactory(ward_count=3)
    assert [w.parent for w in system.wards] == [system.trust] * 3
    assert (system.trust.escalates_to, system.board.escalates_to, system.icb.escalates_to) == (
        system.board,
        system.icb,
        system.regulator,
    )
    other = CareSystemFactory()
    mine = {system.regulator, system.icb, system.board, system.trust, *system.wards}
    assert not mine & {other.regulator, other.icb, other.board, other.trust, *other.wards}


def test_staff_hold_the_role_they_are_given_and_sign_in_with_the_demo_password() -> None:
    system = CareSystemFactory()
    guardian = StaffFactory(membership__role=Role.GUARDIAN, membership__organisation=system.trust)
    handler = StaffFactory()
    assert list(Membership.objects.filter(user=guardian).values_list("role", "organisation")) == [
        (Role.GUARDIAN, system.trust.pk)
    ]
    assert Membership.objects.get(user=handler).role == Role.HANDLER
    assert guardian.check_password("candour-demo-2026")


def test_a_concern_is_raised_by_the_intake_service_with_everything_a_raise_writes() -> None:
    system = CareSystemFactory()
    guardian = StaffFactory(membership__role=Role.GUARDIAN, membership__organisation=system.trust)
    raised = RaisedConcernFactory(unit=system.wards[0], themes=["bullying"])
    concern = raised.concern
    assert (concern.unit, concern.holder, concern.state, concern.themes) == (
        system.wards[0],
        system.wards[0],
        "received",
        ["bullying"],
    )
    assert services.concern_for_receipt(code=raised.receipt) == concern
    assert Receipt.objects.filter(concern=concern).count() == 1
    assert list(Event.objects.filter(concern=concern).values_list("kind", flat=True)) == ["raised"]
    assert Clock.objects.filter(concern=concern).count() == 3
    # Received this quarter; and this week, every theme together and its one theme.
    deltas = sorted(FigureDelta.objects.filter(unit=system.wards[0]).values_list("measure", "bucket"))
    # And for the quarterly return: a case, anonymous, its theme, its (unrecorded) professional group.
    assert {m for m, _ in deltas if m.startswith("r_")} == {"r_cases", "r_anonymous", "r_theme", "r_group"}
    assert [(m, b) for m, b in deltas if not m.startswith("r_")] == [
        ("received", 0),
        ("w_received", 0),
        ("w_received", THEME_BUCKETS["bullying"]),
    ]
    assert set(Delivery.objects.values_list("recipient", flat=True)) == {str(guardian.pk), guardian.email}
    assert not [link for link in audit_verify() if isinstance(link, BrokenLink)]


def test_a_concern_cannot_be_built_without_being_raised() -> None:
    with pytest.raises(TypeError, match="concern_raise"):
        ConcernFactory.build()
    assert ConcernFactory().pk is not None
