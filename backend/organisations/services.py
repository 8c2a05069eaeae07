"""Use cases for organisations and people: where an organisation sits in the tree (its subtree moves
with it), and how a member of staff is told about alerts and escalations."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import CharField, Max, Value
from django.db.models.functions import Concat, Length, Substr
from django.utils import timezone

from backend.concerns.crypto import ContactSpace
from backend.concerns.vault import vault_store
from backend.errors import Invalid
from backend.organisations.models import AlertChannel, Organisation, StaffProfile

_PATH_MAX = Organisation._meta.get_field("path").max_length or 400


def organisation_subtree_move(*, old_path: str, new_path: str) -> int:
    """Give every organisation whose path starts with ``old_path`` (the one that had it and all below
    it) ``new_path`` in its place: one UPDATE, so roles held above (scope's prefix matches) follow the
    whole subtree at once. The caller holds the transaction. Returns how many rows it rewrote.

    The one rule for a moved subtree, used by the admin (organisation_save) and the CSV importer."""
    if old_path == new_path:
        return 0
    return Organisation.objects.filter(path__startswith=old_path).update(
        path=Concat(Value(new_path), Substr("path", len(old_path) + 1), output_field=CharField())
    )


def organisation_place_refusal(*, pk: int | None, parent: Organisation | None, code: str) -> str | None:
    """Why an organisation (``pk``, None for a new one) cannot take this parent and code, or None: the
    parent may not be the organisation itself or anything below it, and no path in its subtree may grow
    past its column. The admin's form asks before saving; organisation_save asks again."""
    old_path = Organisation.objects.filter(pk=pk).values_list("path", flat=True).first() if pk is not None else None
    parent_path = Organisation.objects.filter(pk=parent.pk).values_list("path", flat=True).first() if parent else None
    if old_path is not None and parent_path is not None and parent_path.startswith(old_path):
        return "An organisation cannot sit below itself or anything in its own subtree."
    new_path = Organisation.path_for(parent_path=parent_path, code=code)
    deepest = len(new_path)
    if old_path is not None and new_path != old_path:
        longest = Organisation.objects.filter(path__startswith=old_path).aggregate(longest=Max(Length("path")))
        deepest = (longest["longest"] or len(old_path)) - len(old_path) + len(new_path)
    if deepest > _PATH_MAX:
        return f"It would sit too deep: a path in its subtree would be over {_PATH_MAX} characters."
    return None


@transaction.atomic
def organisation_save(*, organisation: Organisation) -> Organisation:
    """Create or change one organisation (the admin's form). A new parent or code changes its path, and
    its whole subtree moves with it in the same transaction, in one UPDATE, as the CSV import moves it.

    Raises Invalid (organisation_place_refusal's words) for a parent below itself or too deep a path."""
    old_path = None
    if organisation.pk is not None:
        # Locked: two moves of one organisation at once would each rewrite the subtree from a stale prefix.
        old_path = (
            Organisation.objects.select_for_update().filter(pk=organisation.pk).values_list("path", flat=True).first()
        )
    parent = organisation.parent if organisation.parent_id else None
    refusal = organisation_place_refusal(pk=organisation.pk, parent=parent, code=organisation.code)
    if refusal:
        raise Invalid(refusal)
    if parent is not None:
        parent.refresh_from_db(fields=["path"])  # the parent's stored path, not a copy the form held
    organisation.save()
    if old_path is not None:
        organisation_subtree_move(old_path=old_path, new_path=organisation.path)
    return organisation


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
