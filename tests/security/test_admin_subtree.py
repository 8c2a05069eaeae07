"""An organisation moved in the admin moves its whole subtree, as the CSV import does (trust item 15):
every ward below a trust given a new parent takes the new path prefix in the same save, so roles held
above the new parent reach the wards' concerns and nothing keeps a stale path."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from backend.concerns import scope
from backend.concerns.models import Concern
from backend.organisations.models import Organisation
from tests.support.factories import ConcernFactory

pytestmark = pytest.mark.django_db


def _change_form(organisation: Organisation, **changes: object) -> dict[str, object]:
    """The admin change form's fields as they stand, with ``changes`` applied."""
    fields: dict[str, object] = {
        "code": organisation.code,
        "name": organisation.name,
        "kind": organisation.kind,
        "parent": organisation.parent_id or "",
        "escalates_to": organisation.escalates_to_id or "",
        "governs": organisation.governs_id or "",
        "commissioned_by": organisation.commissioned_by_id or "",
        "closure_days": "[]",
        "sms_number": organisation.sms_number,
    }
    fields.update(changes)
    return fields


def _sees(username: str, concern: Concern) -> bool:
    user = User.objects.get(username=username)
    return Concern.objects.filter(scope.handling_q(user=user), pk=concern.pk).exists()


def test_a_trust_moved_in_the_admin_takes_its_wards_and_their_concerns_with_it(admin_client_: Client) -> None:
    icb = Organisation.objects.get(code="QNX")
    trust = Organisation.objects.get(code="RCX")
    wards = list(Organisation.objects.filter(parent=trust))
    assert len(wards) == 2
    concern = ConcernFactory(unit=wards[0])
    assert not _sees("icb-guardian", concern)  # the ICB's guardian is not above the trust yet
    assert _sees("guardian-community", concern)

    answer = admin_client_.post(
        f"/admin/organisations/organisation/{trust.pk}/change/", _change_form(trust, parent=icb.pk)
    )

    assert answer.status_code == 302, answer.content.decode()[:2000]
    trust.refresh_from_db()
    assert trust.parent_id == icb.pk
    assert trust.path == "/QNX/RCX/"
    for ward in wards:
        ward.refresh_from_db()
        assert ward.path == f"/QNX/RCX/{ward.code}/"
    assert not Organisation.objects.filter(path__startswith="/RCX/").exists()  # nothing keeps the old prefix
    assert _sees("icb-guardian", concern)  # scope follows: a guardian of the new parent sees the ward's concern
    assert _sees("guardian-community", concern)  # and the trust's own guardian still does
    assert Concern.objects.filter(pk=concern.pk, unit__path__startswith=icb.path).exists()


def test_the_admin_refuses_to_put_an_organisation_below_its_own_subtree(admin_client_: Client) -> None:
    trust = Organisation.objects.get(code="RNX")
    ward = Organisation.objects.get(code="RNX07")

    answer = admin_client_.post(
        f"/admin/organisations/organisation/{trust.pk}/change/", _change_form(trust, parent=ward.pk)
    )

    assert answer.status_code == 200  # the form again, with the reason
    assert "cannot sit below itself" in answer.content.decode()
    trust.refresh_from_db()
    ward.refresh_from_db()
    assert (trust.parent_id, trust.path, ward.path) == (None, "/RNX/", "/RNX/RNX07/")
