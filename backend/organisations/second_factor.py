"""Two-step sign-in for staff (django-otp): who must pass a second factor, and the devices that give one.

A member of staff signs in with a password (django-axes counts the wrong ones), then, where this
module says they owe one, with a code: six digits from an authenticator app (a TOTP device) or a
one-time backup code (a static device; each code works once). Until then the session is signed in
to nothing but the second-factor pages themselves (backend.config.access, the API's session
authentication and the admin site all ask ``second_factor_owed``).

Who owes it:
- every role but the handler's (guardians, governors, commissioners, regulators, patient groups,
  administrators), and anyone with access to the admin (``is_staff``, superusers): a role added later
  owes it too unless it is named in ``OPTIONAL_ROLES``;
- a handler only once they have set a device up: a device they may skip would protect nothing.

There is no setting that waives it: production, the demo and the tests share the rule. A required
user with no device is sent to set up an authenticator app on first sign-in; the demo gives its users
backup codes instead (``backup_codes_top_up``), which `make run` prints.
"""

from __future__ import annotations

import re
from base64 import b32encode
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User
from django.db import transaction
from django_otp import verify_token
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from backend.organisations.models import Membership, Role

# Roles that may sign in with a password alone (until they set up a device of their own).
OPTIONAL_ROLES = frozenset({Role.HANDLER})
BACKUP_CODES = 10
APP_DEVICE_NAME = "Authenticator app"
BACKUP_DEVICE_NAME = "Backup codes"

_SIX_DIGITS = re.compile(r"^\d{6}$")
# A backup code: b32 letters and digits (django-otp's StaticToken.random_token, eight of them).
_BACKUP_CODE = re.compile(r"^[a-z2-7]{1,16}$")


def second_factor_required(user: AbstractBaseUser | AnonymousUser) -> bool:
    """Whether this user's roles demand a second factor, device or none."""
    if not user.is_authenticated:
        return False
    if getattr(user, "is_superuser", False) or getattr(user, "is_staff", False):
        return True
    return Membership.objects.filter(user_id=user.pk).exclude(role__in=OPTIONAL_ROLES).exists()


def second_factor_required_of(users: list[User]) -> list[User]:
    """``second_factor_required`` for many users at once (one query)."""
    by_role = set(
        Membership.objects.filter(user__in=users).exclude(role__in=OPTIONAL_ROLES).values_list("user_id", flat=True)
    )
    return [u for u in users if u.is_superuser or u.is_staff or u.pk in by_role]


def second_factor_devices(user: AbstractBaseUser | AnonymousUser) -> list[Device]:
    """The devices that can give this user a code now: a confirmed authenticator app, and backup codes
    with any left. Backup codes all used up are no device at all."""
    if not user.is_authenticated:
        return []
    apps: list[Device] = list(TOTPDevice.objects.filter(user_id=user.pk, confirmed=True))
    codes: list[Device] = list(
        StaticDevice.objects.filter(user_id=user.pk, confirmed=True, token_set__isnull=False).distinct()
    )
    return apps + codes


def second_factor_passed(user: AbstractBaseUser | AnonymousUser) -> bool:
    """Whether this session has passed a second factor (django-otp's OTPMiddleware says which device)."""
    is_verified = getattr(user, "is_verified", None)
    return bool(is_verified()) if callable(is_verified) else False


def second_factor_owed(user: AbstractBaseUser | AnonymousUser) -> bool:
    """A signed-in user who must still pass a second factor before anything but its own pages works."""
    if not user.is_authenticated or second_factor_passed(user):
        return False
    return second_factor_required(user) or bool(second_factor_devices(user))


def second_factor_set_up_allowed(user: AbstractBaseUser | AnonymousUser) -> bool:
    """Setting up an authenticator app: after passing the second factor, or when there is no device to
    pass (the first sign-in). Never with a device not yet passed, which would step around it."""
    return user.is_authenticated and (second_factor_passed(user) or not second_factor_devices(user))


@dataclass(frozen=True)
class CodeCheck:
    """The device a code was right for, or None; ``wait_until`` when the devices refused to look at any
    code yet (too many wrong ones lately: django-otp's throttle)."""

    device: Device | None
    wait_until: datetime | None = None


def _normalised(code: str) -> str:
    return re.sub(r"[\s-]", "", code)[:32].lower()


def _check(user: User, devices: list[Device], code: str) -> CodeCheck:
    waits: list[datetime] = []
    open_devices: list[Device] = []
    for device in devices:
        allowed, details = device.verify_is_allowed()
        if allowed:
            open_devices.append(device)
        elif details and details.get("locked_until"):
            waits.append(details["locked_until"])
    if not open_devices:
        return CodeCheck(device=None, wait_until=max(waits) if waits else None)
    for device in open_devices:
        verified = verify_token(user, device.persistent_id, code)
        if verified is not None:
            return CodeCheck(device=verified)
    return CodeCheck(device=None)


def second_factor_check(*, user: User, code: str) -> CodeCheck:
    """Check a code against the user's devices: six digits against their authenticator app, anything
    else against their backup codes (a right backup code is used up). A wrong code counts against
    only the kind it was for, so a mistyped app code never delays a backup code."""
    code = _normalised(code)
    if _SIX_DIGITS.match(code):
        devices = [d for d in second_factor_devices(user) if isinstance(d, TOTPDevice)]
    elif _BACKUP_CODE.match(code):
        devices = [d for d in second_factor_devices(user) if isinstance(d, StaticDevice)]
    else:
        return CodeCheck(device=None)
    return _check(user, devices, code)


def app_set_up_start(*, user: User) -> TOTPDevice:
    """The authenticator app being set up: a new secret, kept (unconfirmed) until a code from it
    confirms it, so showing the page again shows the same secret."""
    pending = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    if pending is None:
        pending = TOTPDevice.objects.create(user=user, name=APP_DEVICE_NAME, confirmed=False)
    return pending


@transaction.atomic
def app_set_up_confirm(*, user: User, code: str) -> CodeCheck:
    """Confirm the app being set up with a code from it; it then replaces any app set up before."""
    pending = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=False).order_by("pk").first()
    code = _normalised(code)
    if pending is None or not _SIX_DIGITS.match(code):
        return CodeCheck(device=None)
    allowed, details = pending.verify_is_allowed()
    if not allowed:
        return CodeCheck(device=None, wait_until=(details or {}).get("locked_until"))
    if not pending.verify_token(code):
        return CodeCheck(device=None)
    TOTPDevice.objects.filter(user=user).exclude(pk=pending.pk).delete()
    pending.confirmed = True
    pending.save(update_fields=["confirmed"])
    return CodeCheck(device=pending)


def app_secret_text(device: TOTPDevice) -> str:
    """The secret as an authenticator app asks for it typed in: base32, in groups of four."""
    secret = b32encode(device.bin_key).decode("ascii").rstrip("=")
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


@dataclass(frozen=True)
class BackupCodes:
    device: StaticDevice
    codes: list[str]


@transaction.atomic
def backup_codes_issue(*, user: User, count: int = BACKUP_CODES) -> BackupCodes:
    """A new set of one-time backup codes; any codes the user had before stop working."""
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=BACKUP_DEVICE_NAME, confirmed=True)
    codes = [StaticToken.random_token() for _ in range(count)]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=code) for code in codes])
    return BackupCodes(device=device, codes=codes)


@dataclass(frozen=True)
class SecondFactorSummary:
    """What the account page says: whether the user must use a second factor, whether an authenticator
    app is set up, and how many backup codes are left."""

    required: bool
    app: bool
    codes_left: int


def second_factor_summary(*, user: User) -> SecondFactorSummary:
    return SecondFactorSummary(
        required=second_factor_required(user),
        app=TOTPDevice.objects.filter(user=user, confirmed=True).exists(),
        codes_left=StaticToken.objects.filter(device__user=user, device__confirmed=True).count(),
    )


@transaction.atomic
def backup_codes_top_up(*, users: list[User], at_least: int) -> dict[str, list[str]]:
    """The demo's codes: each user keeps a backup-code device with at least ``at_least`` unused codes
    (new ones added to replace those used). Returns each user's unused codes by username."""
    devices = {d.user_id: d for d in StaticDevice.objects.filter(user__in=users, confirmed=True).order_by("pk")}
    missing = [StaticDevice(user=u, name=BACKUP_DEVICE_NAME, confirmed=True) for u in users if u.pk not in devices]
    for device in StaticDevice.objects.bulk_create(missing):
        devices[device.user_id] = device
    held: dict[int, list[str]] = {u.pk: [] for u in users}
    for device_user, token in StaticToken.objects.filter(device__in=devices.values()).values_list(
        "device__user_id", "token"
    ):
        held[device_user].append(token)
    new_tokens: list[StaticToken] = []
    for user in users:
        for _ in range(at_least - len(held[user.pk])):
            token = StaticToken.random_token()
            held[user.pk].append(token)
            new_tokens.append(StaticToken(device=devices[user.pk], token=token))
    StaticToken.objects.bulk_create(new_tokens)
    return {user.get_username(): sorted(held[user.pk]) for user in users}
