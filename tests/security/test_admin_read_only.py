"""The admin can look at concerns, their clocks and their audit trail, and change none of them (trust
item 8): an administrator adding an Event, editing a Clock or deleting a concern is refused."""

from __future__ import annotations

import pytest
from django.test import Client

from backend.concerns.models import Clock, Event
from tests.support.factories import ConcernFactory

pytestmark = pytest.mark.django_db


def test_the_admin_reads_but_never_writes_concerns_clocks_or_events(admin_client_: Client) -> None:
    concern = ConcernFactory()
    clock = Clock.objects.filter(concern=concern).first()
    event = Event.objects.get(concern=concern)
    assert clock is not None

    assert admin_client_.get(f"/admin/concerns/event/{event.pk}/change/").status_code == 200  # looking is fine
    assert admin_client_.get("/admin/concerns/event/add/").status_code == 403
    assert admin_client_.post(f"/admin/concerns/event/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert admin_client_.get("/admin/concerns/clock/add/").status_code == 403
    edited = admin_client_.post(f"/admin/concerns/clock/{clock.pk}/change/", {"status": "stopped"})
    assert edited.status_code == 403
    assert admin_client_.post(f"/admin/concerns/concern/{concern.pk}/delete/", {"post": "yes"}).status_code == 403

    clock.refresh_from_db()
    assert clock.status == "pending"
    assert Event.objects.filter(pk=event.pk).exists()
