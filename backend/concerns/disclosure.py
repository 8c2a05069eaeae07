"""Proof of disclosure: a certificate, signed by Candour, that a concern with these words reached this
organisation within this hour.

At intake the raiser is given a small JSON document: the reference, the unit it went to, the UTC hour
it was received in and the SHA-256 digest of the words of "what happened", signed with Ed25519. It
names nobody, and Candour keeps no copy: the digest would let anyone holding the database confirm a
guess of the words, which the encrypted narrative does not. Later, anyone holding the certificate and a
copy of the words can check one against the other, with the public key alone.

The signing and checking functions are pure (keys are passed in); ``keyring`` reads the keys from
settings (CANDOUR_SIGNING_KEYS: ``key_id:seed`` pairs, the current key first). Old keys stay listed,
so certificates signed before a rotation still verify: a certificate names its key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.conf import settings

from backend.errors import Invalid
from workflows.engine.vocabulary import Labelled

VERSION = 1
KIND = "candour-disclosure-certificate"
# Said inside every certificate, so a checker needs nothing but the document to reproduce the digest.
WORDS_RULE = "sha256 of the UTF-8 words; line breaks as LF; leading and trailing whitespace removed"
CERTIFICATE_MAX_CHARS = 8_000  # a real one is under 1,000; anything far larger is not one
KEY_ID_RE = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")
FIELDS = (
    "version",
    "kind",
    "key_id",
    "reference",
    "organisation_code",
    "organisation_name",
    "received_hour",
    "words_rule",
    "words_sha256",
)
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_HOUR = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:00:00Z$")


# The words ------------------------------------------------------------------------------------------


def words_canonical(*, words: str) -> str:
    """The words as intake stored them. Intake trims leading and trailing whitespace (the input schema
    does); line breaks are made LF because a browser sends a textarea's as CRLF whatever the raiser
    typed, so without it words raised by the API or a text could never be checked on the web page.
    Nothing else is touched: not case, not inner spaces, not Unicode forms."""
    return words.replace("\r\n", "\n").replace("\r", "\n").strip()


def words_digest(*, words: str) -> str:
    return hashlib.sha256(words_canonical(words=words).encode("utf-8")).hexdigest()


# Keys -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Keyring:
    """Candour's disclosure keys: the first signs, every one verifies (by the certificate's key id)."""

    signing: tuple[tuple[str, Ed25519PrivateKey], ...]

    @property
    def current(self) -> tuple[str, Ed25519PrivateKey]:
        return self.signing[0]

    def public(self, key_id: str) -> Ed25519PublicKey | None:
        return next((key.public_key() for kid, key in self.signing if kid == key_id), None)

    def published(self) -> list[dict[str, Any]]:
        """What /.well-known/candour-disclosure-keys.json shows: every key, old ones too."""
        return [
            {
                "key_id": kid,
                "algorithm": "Ed25519",
                "public_key": public_key_text(key=key.public_key()),
                "current": index == 0,
            }
            for index, (kid, key) in enumerate(self.signing)
        ]


def public_key_text(*, key: Ed25519PublicKey) -> str:
    return base64.b64encode(key.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


def keyring_parse(*, entries: tuple[str, ...]) -> Keyring:
    """``key_id:seed`` entries, current first. ValueError names what is wrong (never the seed)."""
    signing: list[tuple[str, Ed25519PrivateKey]] = []
    for entry in entries:
        key_id, _, seed = entry.strip().partition(":")
        if not KEY_ID_RE.match(key_id):
            raise ValueError(f"CANDOUR_SIGNING_KEYS: {key_id[:40]!r} is not a key id (letters, digits, . _ -)")
        if any(kid == key_id for kid, _ in signing):
            raise ValueError(f"CANDOUR_SIGNING_KEYS: key id {key_id} appears twice")
        try:
            raw = base64.urlsafe_b64decode(seed + "=" * (-len(seed) % 4))
            signing.append((key_id, Ed25519PrivateKey.from_private_bytes(raw)))
        except (binascii.Error, ValueError):
            raise ValueError(f"CANDOUR_SIGNING_KEYS: key {key_id} is not a base64 Ed25519 seed of 32 bytes") from None
    if not signing:
        raise ValueError("CANDOUR_SIGNING_KEYS holds no key")
    return Keyring(signing=tuple(signing))


@lru_cache(maxsize=4)
def _keyring_cached(entries: tuple[str, ...]) -> Keyring:
    return keyring_parse(entries=entries)


def keyring() -> Keyring:
    """The keys settings name (cached by their text, so a changed setting takes effect at once)."""
    return _keyring_cached(tuple(settings.CANDOUR_SIGNING_KEYS))


# Certificates ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Certificate:
    """A signed certificate: the claim, as the signed fields, and the signature over their canonical bytes."""

    fields: dict[str, Any]
    signature: str  # base64 Ed25519 signature over canonical_bytes(fields)

    @property
    def reference(self) -> str:
        return str(self.fields["reference"])

    @property
    def received_hour(self) -> datetime:
        return datetime.strptime(self.fields["received_hour"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)

    def document(self) -> str:
        """The file the raiser keeps: readable JSON (its layout does not matter; the signature is over
        the canonical form of ``certificate``)."""
        return json.dumps({"certificate": self.fields, "signature": self.signature}, indent=2, ensure_ascii=False)

    def filename(self) -> str:
        return f"candour-disclosure-{self.reference}.json"


def canonical_bytes(*, fields: dict[str, Any]) -> bytes:
    """Sorted keys, no spaces, non-ASCII escaped: one byte string for one set of fields."""
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def hour_text(*, at: datetime) -> str:
    """The UTC hour a moment falls in: the finest time Candour keeps of an anonymous raise, so the
    finest a certificate states of any."""
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def certificate_sign(
    *,
    keys: Keyring,
    reference: str,
    organisation_code: str,
    organisation_name: str,
    received_at: datetime,
    words: str,
) -> Certificate:
    """Sign the claim that ``words`` reached the organisation as ``reference`` within the hour of
    ``received_at``. Nothing about the raiser goes in: not their name, address, browser or exact time."""
    key_id, key = keys.current
    fields: dict[str, Any] = {
        "version": VERSION,
        "kind": KIND,
        "key_id": key_id,
        "reference": reference,
        "organisation_code": organisation_code,
        "organisation_name": organisation_name,
        "received_hour": hour_text(at=received_at),
        "words_rule": WORDS_RULE,
        "words_sha256": words_digest(words=words),
    }
    signature = base64.b64encode(key.sign(canonical_bytes(fields=fields))).decode()
    return Certificate(fields=fields, signature=signature)


class CertificateUnreadable(Invalid):
    """Not a Candour disclosure certificate at all (not JSON, missing fields, too large)."""


def certificate_parse(*, document: str) -> Certificate:
    """The certificate in a document, or CertificateUnreadable saying what is wrong with its shape.
    The signature is not checked here (certificate_check does)."""
    if len(document) > CERTIFICATE_MAX_CHARS:
        raise CertificateUnreadable(f"This is too large to be a certificate (over {CERTIFICATE_MAX_CHARS} characters).")
    try:
        data = json.loads(document)
    except (ValueError, RecursionError):
        raise CertificateUnreadable("This is not a certificate: it is not JSON.") from None
    if not isinstance(data, dict) or not isinstance(data.get("certificate"), dict):
        raise CertificateUnreadable('This is not a certificate: it has no "certificate" part.')
    fields, signature = data["certificate"], data.get("signature")
    if not isinstance(signature, str) or not signature:
        raise CertificateUnreadable('This is not a certificate: it has no "signature".')
    missing = [name for name in FIELDS if name not in fields]
    extra = sorted(set(fields) - set(FIELDS))
    if missing or extra:
        said = ", ".join([*(f"missing {m}" for m in missing), *(f"unknown {e}" for e in extra)])
        raise CertificateUnreadable(f"This is not a certificate of this kind ({said}).")
    if fields["version"] != VERSION or isinstance(fields["version"], bool) or fields["kind"] != KIND:
        raise CertificateUnreadable("This is not a version of the certificate Candour knows.")
    if not all(isinstance(fields[name], str) for name in FIELDS if name != "version"):
        raise CertificateUnreadable("This certificate's fields are not all text.")
    if not _HEX64.match(fields["words_sha256"]) or not _HOUR.match(fields["received_hour"]):
        raise CertificateUnreadable("This certificate's digest or hour is not in the form Candour writes.")
    return Certificate(fields=dict(fields), signature=signature)


class Finding(Labelled):
    """What a check of words against a certificate found."""

    MATCHES = "matches", "The words match the certificate, and Candour signed it."
    TEXT_DIFFERS = "text_differs", "Candour signed this certificate, but the words are not the ones it was given."
    BAD_SIGNATURE = "bad_signature", "The certificate was changed after Candour signed it, or Candour never signed it."
    UNKNOWN_KEY = "unknown_key", "The certificate names a key Candour has never published."


@dataclass(frozen=True)
class DisclosureCheck:
    finding: Finding
    certificate: Certificate

    @property
    def matches(self) -> bool:
        return self.finding == Finding.MATCHES


def certificate_check(*, keys: Keyring, certificate: Certificate, words: str) -> DisclosureCheck:
    """Check the signature with the key the certificate names, then the words against its digest.
    A bad signature is reported before the words: a forged certificate says nothing about them."""
    public = keys.public(certificate.fields["key_id"])
    if public is None:
        return DisclosureCheck(finding=Finding.UNKNOWN_KEY, certificate=certificate)
    try:
        signature = base64.b64decode(certificate.signature, validate=True)
        public.verify(signature, canonical_bytes(fields=certificate.fields))
    except (binascii.Error, ValueError, InvalidSignature):
        return DisclosureCheck(finding=Finding.BAD_SIGNATURE, certificate=certificate)
    if words_digest(words=words) != certificate.fields["words_sha256"]:
        return DisclosureCheck(finding=Finding.TEXT_DIFFERS, certificate=certificate)
    return DisclosureCheck(finding=Finding.MATCHES, certificate=certificate)


def disclosure_check(*, document: str, words: str) -> DisclosureCheck:
    """The use case behind the command and the public page: parse, then check with Candour's keys.
    It stores nothing and logs nothing: the words are a raiser's."""
    return certificate_check(keys=keyring(), certificate=certificate_parse(document=document), words=words)


def disclosure_certificate_verified(*, document: str) -> Certificate:
    """A certificate to hand back as a file: only one Candour signed (so the download cannot be used to
    dress any JSON in Candour's name)."""
    certificate = certificate_parse(document=document)
    finding = certificate_check(keys=keyring(), certificate=certificate, words="").finding
    if finding not in (Finding.MATCHES, Finding.TEXT_DIFFERS):
        raise CertificateUnreadable(finding.label)
    return certificate
