"""Where Candour's secrets come from.

Production reads every secret from the environment and refuses to start without it. The embedded
default (``make run`` and the tests) generates them once into var/secrets.json, which is never
committed, so a fresh clone needs nothing but the repository.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.core.exceptions import ImproperlyConfigured

SECRET_NAMES = (
    "DJANGO_SECRET_KEY",
    "CANDOUR_RECEIPT_PEPPER",
    "CANDOUR_ENCRYPTION_KEYS",
    "CANDOUR_CONTACT_PEPPER",
    "CANDOUR_AUDIT_KEY",
    "CANDOUR_SIGNING_KEYS",
)


@dataclass(frozen=True)
class Secrets:
    secret_key: str
    receipt_pepper: bytes
    contact_pepper: bytes
    # The first key encrypts; every key decrypts, so a new key can be put first and the old ones
    # kept until `manage.py encryption_rotate` has re-encrypted every row.
    encryption_keys: tuple[str, ...]
    # Keys the audit chain's HMAC. It lives outside the database, so someone who can write the events
    # table cannot write a chain that verifies.
    audit_key: bytes
    # Ed25519 keys that sign disclosure certificates, as "key_id:seed" (backend/concerns/disclosure.py):
    # the first signs, all verify, so certificates signed before a rotation still check.
    signing_keys: tuple[str, ...]


def _fernet_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def signing_key_new() -> str:
    """A new "key_id:seed" entry for CANDOUR_SIGNING_KEYS: the id is the date and a digest of the public
    key, so two keys never share one; the seed is the raw private key, base64url."""
    seed = os.urandom(32)  # an Ed25519 private key is any 32 random bytes
    public = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    key_id = f"{datetime.now(UTC):%Y%m%d}-{hashlib.sha256(public).hexdigest()[:8]}"
    return f"{key_id}:{base64.urlsafe_b64encode(seed).decode()}"


def _signing_keys(text: str) -> tuple[str, ...]:
    """The entries, each checked now: a bad key must stop Candour starting, not fail a raise later.
    The messages name the key id, never the seed."""
    entries = tuple(k.strip() for k in text.split(",") if k.strip())
    if not entries:
        raise ImproperlyConfigured("CANDOUR_SIGNING_KEYS holds no key")
    ids = [entry.partition(":")[0] for entry in entries]
    if len(set(ids)) != len(ids):
        raise ImproperlyConfigured("CANDOUR_SIGNING_KEYS lists a key id twice")
    for entry in entries:
        key_id, _, seed = entry.partition(":")
        if not key_id or not all((ch.isascii() and ch.isalnum()) or ch in "_.-" for ch in key_id) or len(key_id) > 40:
            raise ImproperlyConfigured("CANDOUR_SIGNING_KEYS: each entry is key_id:seed, the id letters, digits, . _ -")
        try:
            raw = base64.urlsafe_b64decode(seed + "=" * (-len(seed) % 4))
        except ValueError:
            raw = b""
        if len(raw) != 32:
            raise ImproperlyConfigured(
                f"CANDOUR_SIGNING_KEYS: key {key_id} is not a base64url Ed25519 seed of 32 bytes"
            )
    return entries


def _generate() -> dict[str, str]:
    return {
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "CANDOUR_RECEIPT_PEPPER": secrets.token_hex(32),
        "CANDOUR_CONTACT_PEPPER": secrets.token_hex(32),
        "CANDOUR_ENCRYPTION_KEYS": _fernet_key(),
        "CANDOUR_AUDIT_KEY": secrets.token_hex(32),
        "CANDOUR_SIGNING_KEYS": signing_key_new(),
    }


def _from_mapping(values: dict[str, str]) -> Secrets:
    keys = tuple(k.strip() for k in values["CANDOUR_ENCRYPTION_KEYS"].split(",") if k.strip())
    if not keys:
        raise ImproperlyConfigured("CANDOUR_ENCRYPTION_KEYS holds no key")
    signing = _signing_keys(values["CANDOUR_SIGNING_KEYS"])
    return Secrets(
        secret_key=values["DJANGO_SECRET_KEY"],
        receipt_pepper=values["CANDOUR_RECEIPT_PEPPER"].encode(),
        contact_pepper=values["CANDOUR_CONTACT_PEPPER"].encode(),
        encryption_keys=keys,
        audit_key=values["CANDOUR_AUDIT_KEY"].encode(),
        signing_keys=signing,
    )


def load_secrets(*, production: bool, var_dir: Path) -> Secrets:
    from_env = {name: os.environ[name] for name in SECRET_NAMES if os.environ.get(name)}
    if production:
        missing = [name for name in SECRET_NAMES if name not in from_env]
        if missing:
            raise ImproperlyConfigured(
                "Candour will not start in production without its secrets; missing: " + ", ".join(missing)
            )
        return _from_mapping(from_env)
    return _from_mapping({**_stored(var_dir / "secrets.json"), **from_env})


def _stored(path: Path) -> dict[str, str]:
    """The embedded default's secrets, made once. A file from before a secret existed gains it, under
    a lock: web, worker and beat start together and must all read the same new key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        stored: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
        missing = {name: value for name, value in _generate().items() if name not in stored}
        if missing:
            stored |= missing
            tmp = path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                json.dump(stored, fh)
            os.replace(tmp, path)
    return stored
