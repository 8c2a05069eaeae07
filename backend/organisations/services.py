"""Use cases for people: how a member of staff is told about alerts and escalations."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from backend.concerns.crypto import ContactSpace
from backend.concerns.vault import vault_store
from backend.organisations.models import AlertChannel, StaffProfile


@transaction.atomic
def staff_profile_update(
    *, user: User, alert_channel: str, mobile: str = "", now: datetime | None = None
) -> StaffProfile:
    """Choose e-mail, text or in-app only. A mobile number goes into the contact vault; the profile
    keeps its token, so nobody reading the database or the admin sees it."""
    profile, _ = StaffProfile.objects.get_or_create(user=user)
    profile.alert_channel = AlertChannel(alert_channel)
    if mobile:
        profile.sms_token = vault_store(number=mobile, now=now or timezone.now(), space=ContactSpace.STAFF)
    if profile.alert_channel == AlertChannel.SMS and not profile.sms_token:
        raise ValueError("a text message needs a mobile number")
    profile.save()
    return profile
