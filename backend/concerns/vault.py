"""The contact vault: an SMS raiser's number, encrypted, found by a keyed hash, purged at closure.

Nothing outside this module sees a number: concerns and outbox deliveries carry the token, and the
SMS channel asks ``vault_number_for_token`` at the moment it sends.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q

from backend.concerns.crypto import ContactSpace, contact_token, phone_normalise
from backend.concerns.models import Concern, VaultEntry
from workflows.engine import lifecycle

OPEN_STATES = [s.value for s in lifecycle.OPEN]
# A concern needs its raiser's number while it is open, or once closed while its raiser may still be
# texted a check-in or asked for consent (services.aftercare sets contact_kept_until, and clears it
# when the number goes).
NEEDS_NUMBER = Q(state__in=OPEN_STATES) | Q(contact_kept_until__isnull=False)


def vault_store(*, number: str, now: datetime, space: ContactSpace) -> str:
    """Keep the number (once in its space) and return its token in that space."""
    token = contact_token(number, space=space)
    VaultEntry.objects.get_or_create(
        token=token, defaults={"number": phone_normalise(number), "created_at": now, "space": space}
    )
    return token


def vault_number_for_token(token: str) -> str | None:
    """For the SMS channel only: the number to send to, or None if purged or the raiser texted STOP."""
    entry = VaultEntry.objects.filter(token=token, opted_out=False).first()
    return entry.number if entry else None


def vault_may_text(*, token: str) -> bool:
    """Whether the vault holds this token's number and its raiser has not texted STOP."""
    return VaultEntry.objects.filter(token=token, opted_out=False).exists()


def vault_opt(*, number: str, opted_out: bool) -> None:
    """A raiser texted STOP or START: only their raiser entry changes, never the same number's staff
    alerts (the staff choose their channel on their own page)."""
    VaultEntry.objects.filter(token=contact_token(number, space=ContactSpace.RAISER)).update(opted_out=opted_out)


def vault_purge_for_concern(*, concern: Concern) -> bool:
    """When a concern closes, it forgets its raiser's token (the pepper would turn a kept token back
    into a number by trying every UK mobile), and the number goes unless another open concern of the
    same raiser needs it (open, or closed and keeping it for check-ins). Returns whether it went."""
    token = concern.contact_token
    if not token:
        return False
    concern.contact_token = ""
    Concern.objects.filter(pk=concern.pk).update(contact_token="")
    if Concern.objects.filter(NEEDS_NUMBER, contact_token=token).exists():
        return False
    return bool(VaultEntry.objects.filter(token=token, space=ContactSpace.RAISER).delete()[0])


@transaction.atomic
def vault_purge_stale(*, now: datetime, older_than: timedelta = timedelta(days=30), batch: int = 500) -> int:
    """The retention job: entries no concern needs (open, or kept for check-ins after closure), older
    than the grace period, are deleted."""
    purged = 0
    # Raisers' numbers only: a member of staff's alert number stays for as long as they want alerts.
    candidates = VaultEntry.objects.filter(space=ContactSpace.RAISER, created_at__lt=now - older_than).values_list(
        "pk", "token"
    )
    last = 0
    while True:
        rows = list(candidates.filter(pk__gt=last).order_by("pk")[:batch])
        if not rows:
            return purged
        last = rows[-1][0]
        tokens = {t for _, t in rows}
        # Kept for check-ins only until its time: a missed aftercare purge is this job's to finish.
        needed = Q(state__in=OPEN_STATES) | Q(contact_kept_until__gt=now)
        live = set(Concern.objects.filter(needed, contact_token__in=tokens).values_list("contact_token", flat=True))
        purged += VaultEntry.objects.filter(token__in=tokens - live).delete()[0]
