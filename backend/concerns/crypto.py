"""Keyed hashes: receipts, references, contact tokens. Keys come from settings (the environment in
production). Field encryption is backend.config.encryption's."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from functools import lru_cache

from django.conf import settings

from workflows.engine.vocabulary import Labelled

# Crockford's base32: no I, L, O or U, so a code read aloud or typed from paper survives.
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
RECEIPT_CHARS = 24  # 24 x 5 = 120 bits, above the 112 the house plan asks for
# References are spoken on the phone and written in minutes: no vowels (no words), no 0/1.
REFERENCE_ALPHABET = "23456789BCDFGHJKMNPQRSTVWXZ"
_RECEIPT_TRANSLATE = str.maketrans({"O": "0", "I": "1", "L": "1"})


def receipt_new() -> str:
    raw = "".join(secrets.choice(CROCKFORD) for _ in range(RECEIPT_CHARS))
    return "-".join(raw[i : i + 4] for i in range(0, RECEIPT_CHARS, 4))


def receipt_normalise(code: str) -> str | None:
    """The canonical form of a typed receipt, or None if it cannot be one."""
    cleaned = "".join(ch for ch in code.upper() if ch not in " -\t").translate(_RECEIPT_TRANSLATE)
    if len(cleaned) != RECEIPT_CHARS or any(ch not in CROCKFORD for ch in cleaned):
        return None
    return cleaned


def receipt_digest(normalised: str) -> str:
    return hmac.new(settings.CANDOUR_RECEIPT_PEPPER, normalised.encode(), hashlib.sha256).hexdigest()


def submission_digest(key: str) -> str:
    """Keyed hash of a one-time submission token: enough to spot a resubmission, nothing to read."""
    return hmac.new(settings.CANDOUR_RECEIPT_PEPPER, b"submission:" + key.encode()[:200], hashlib.sha256).hexdigest()


def submission_key_new() -> str:
    return secrets.token_urlsafe(24)


def reference_new() -> str:
    raw = "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(8))
    return f"CN-{raw[:4]}-{raw[4:]}"


def phone_normalise(number: str) -> str:
    """E.164 for the forms a UK number arrives in: +44 7700 900123, 07700900123, 0044 7700 900 123."""
    digits = "".join(ch for ch in number if ch.isdigit() or ch == "+")
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    elif digits.startswith("0"):
        digits = "+44" + digits[1:]
    return digits


class ContactSpace(Labelled):
    """Whose number a vault entry holds. The two never share a token: a guardian who texts a concern
    from the phone their alerts go to must not be linked to it, silenced by its STOP, or purged with it."""

    RAISER = "raiser", "An SMS raiser"
    STAFF = "staff", "A member of staff's alert number"


@lru_cache(maxsize=8)
def _space_key(pepper: bytes, space: str) -> bytes:
    # Domain separation: each space hashes under its own key, derived from the one pepper.
    return hmac.new(pepper, b"candour contact token: " + space.encode(), hashlib.sha256).digest()


def contact_token(number: str, *, space: ContactSpace) -> str:
    """The vault's key for a number in one space: a keyed hash, so the database holds nothing that
    dials, and the same number gives unrelated tokens as a raiser's and as a member of staff's."""
    key = _space_key(settings.CANDOUR_CONTACT_PEPPER, space.value)
    return hmac.new(key, phone_normalise(number).encode(), hashlib.sha256).hexdigest()
