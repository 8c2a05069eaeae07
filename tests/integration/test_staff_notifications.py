"""Each member of staff chooses e-mail, text message or in-app only; a number lives only in the vault."""

from __future__ import annotations

import pytest
from django.test import Client

from backend.concerns import services
from backend.concerns.vault import vault_number_for_token
from backend.organisations.models import Organisation, StaffProfile
from notifications.models import Delivery
from tests.support.factories import ConcernFactory
from tests.support.sign_in import sign_in

pytestmark = pytest.mark.django_db


def _detriment() -> None:
    concern = ConcernFactory(unit=Organisation.objects.get(code="RNX07"), themes=["bullying"])
    services.concern_message_from_raiser(concern_id=concern.pk, body="moved off rota", kind="detriment")


def test_a_governor_chooses_text_messages(demo: None) -> None:
    client = Client()
    sign_in(client, "governor")
    assert client.get("/account/notifications/").status_code == 200
    refused = client.post("/account/notifications/", {"alert_channel": "sms"})
    assert refused.status_code == 400
    assert "Enter the mobile number" in refused.content.decode()
    saved = client.post("/account/notifications/", {"alert_channel": "sms", "mobile": "07700 900321"})
    assert saved.status_code == 200
    profile = StaffProfile.objects.get(user__username="governor")
    assert vault_number_for_token(profile.sms_token) == "+447700900321"
    _detriment()
    channels = sorted(
        Delivery.objects.filter(recipient__in=[profile.sms_token, str(profile.user_id)]).values_list(
            "channel", flat=True
        )
    )
    assert channels == ["in_app", "sms"]
    assert not Delivery.objects.filter(channel="email", recipient="governor@candour.invalid").exists()
    for row in Delivery.objects.values_list("recipient", "body"):
        assert "900321" not in " ".join(row)


def test_in_app_only_sends_nothing_outside(demo: None) -> None:
    client = Client()
    sign_in(client, "governor")
    client.post("/account/notifications/", {"alert_channel": "in_app"})
    _detriment()
    governor = StaffProfile.objects.get(user__username="governor").user
    # The guardian's new-concern notices go out as the guardian chose; the governor's alert in-app only.
    assert list(Delivery.objects.filter(subject__contains="alert").values_list("channel", flat=True)) == ["in_app"]
    assert set(
        Delivery.objects.filter(recipient__in=[str(governor.pk), governor.email]).values_list("channel", flat=True)
    ) == {"in_app"}
