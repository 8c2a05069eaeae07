"""Certificates of disclosure, signed and checked without a database: a certificate matches the words
it was signed over and no others, before and after a key rotation, and any edit to it breaks it."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from backend.concerns.disclosure import (
    Certificate,
    CertificateUnreadable,
    Finding,
    Keyring,
    canonical_bytes,
    certificate_check,
    certificate_parse,
    certificate_sign,
    keyring_parse,
)
from backend.config.secrets import signing_key_new

AT = datetime(2026, 3, 29, 0, 47, 12, tzinfo=UTC)  # the night the clocks change: UTC is what counts
WORDS = "Two nurses for thirty patients on nights.\nNobody answers the bell. 😟 الرجاء المساعدة"


def _seed(key: Ed25519PrivateKey) -> str:
    return base64.urlsafe_b64encode(key.private_bytes_raw()).decode()


def _entry(key_id: str) -> str:
    """A fresh key under a chosen id, as CANDOUR_SIGNING_KEYS lists it."""
    return key_id + ":" + signing_key_new().split(":", 1)[1]


OLD = keyring_parse(entries=(_entry("2026a"),))
# The rotation: a new key first (it signs), the old one kept after it (it still verifies).
ROTATED = keyring_parse(entries=(_entry("2026b"), *(f"{kid}:{_seed(key)}" for kid, key in OLD.signing)))


def _sign(keys: Keyring, words: str = WORDS) -> Certificate:
    return certificate_sign(
        keys=keys,
        reference="CN-BCDF-GHJK",
        organisation_code="RNX07",
        organisation_name="Ward 7, Acute Medicine",
        received_at=AT,
        words=words,
    )


def _kept(certificate: Certificate) -> Certificate:
    """As the raiser keeps it: the file, read back."""
    return certificate_parse(document=certificate.document())


def _check(keys: Keyring, certificate: Certificate, words: str) -> Finding:
    return certificate_check(keys=keys, certificate=certificate, words=words).finding


def test_a_certificate_states_the_reference_unit_hour_and_digest_and_nothing_else() -> None:
    certificate = _sign(OLD)
    assert set(certificate.fields) == {
        "version",
        "kind",
        "key_id",
        "reference",
        "organisation_code",
        "organisation_name",
        "received_hour",
        "words_rule",
        "words_sha256",
    }
    assert certificate.fields["key_id"] == "2026a"
    assert certificate.fields["received_hour"] == "2026-03-29T00:00:00Z"
    assert certificate.fields["words_sha256"] == hashlib.sha256(WORDS.encode("utf-8")).hexdigest()
    # A plain Ed25519 signature over the canonical JSON: anyone can check it with the public key alone.
    OLD.signing[0][1].public_key().verify(
        base64.b64decode(certificate.signature), canonical_bytes(fields=certificate.fields)
    )
    assert _check(OLD, _kept(certificate), WORDS) == Finding.MATCHES


def test_what_intake_normalises_does_not_count_and_nothing_else_is_normalised() -> None:
    certificate = _kept(_sign(OLD))
    # Intake trims the ends; a browser sends line breaks as CRLF.
    assert _check(OLD, certificate, "  \n" + WORDS.replace("\n", "\r\n") + "\n") == Finding.MATCHES
    # Case, inner spaces and Unicode forms are the raiser's words: they count.
    assert _check(OLD, certificate, WORDS.upper()) == Finding.TEXT_DIFFERS
    assert _check(OLD, certificate, WORDS.replace(" ", "  ", 1)) == Finding.TEXT_DIFFERS
    cafe = _kept(_sign(OLD, "café"))
    assert _check(OLD, cafe, "cafe\u0301") == Finding.TEXT_DIFFERS


# Words without CR (which the rule makes LF) and not starting or ending in whitespace (which intake trims).
texts = (
    st.text(st.characters(blacklist_characters="\r", blacklist_categories=("Cs",)), min_size=1, max_size=200)
    .map(str.strip)
    .filter(bool)
)


@given(words=texts, data=st.data())
def test_any_one_changed_character_fails_before_and_after_a_rotation(words: str, data: st.DataObject) -> None:
    position = data.draw(st.integers(0, len(words) - 1), label="position")
    replacement = data.draw(
        st.characters(blacklist_characters="\r" + words[position], blacklist_categories=("Cs",)), label="by"
    )
    changed = words[:position] + replacement + words[position + 1 :]
    old = _kept(_sign(OLD, words))
    new = _kept(_sign(ROTATED, words))
    assert new.fields["key_id"] == "2026b"
    for keys in (OLD, ROTATED):
        assert _check(keys, old, words) == Finding.MATCHES
        assert _check(keys, old, changed) == Finding.TEXT_DIFFERS
    assert _check(ROTATED, new, words) == Finding.MATCHES
    assert _check(ROTATED, new, changed) == Finding.TEXT_DIFFERS
    # The old keyring has never heard of the new key: it cannot vouch for the new certificate.
    assert _check(OLD, new, words) == Finding.UNKNOWN_KEY


@pytest.mark.parametrize(
    "field",
    ["key_id", "reference", "organisation_code", "organisation_name", "received_hour", "words_sha256", "words_rule"],
)
def test_a_certificate_changed_in_any_field_fails_its_signature(field: str) -> None:
    document = json.loads(_sign(ROTATED).document())
    value = document["certificate"][field]
    if field == "key_id":
        changed = "2026a"  # a key Candour has: the signature is checked and fails
    elif field == "received_hour":
        changed = "2026-03-28T23:00:00Z"
    elif field == "words_sha256":
        changed = hashlib.sha256(b"other words").hexdigest()
    else:
        changed = value + "x"
    document["certificate"][field] = changed
    forged = certificate_parse(document=json.dumps(document))
    words = "other words" if field == "words_sha256" else WORDS
    assert _check(ROTATED, forged, words) == Finding.BAD_SIGNATURE


def test_a_signature_changed_or_from_another_key_fails() -> None:
    document = json.loads(_sign(OLD).document())
    stranger = keyring_parse(entries=(_entry("2026a"),))  # same id, another key: a forger's
    assert _check(stranger, certificate_parse(document=json.dumps(document)), WORDS) == Finding.BAD_SIGNATURE
    document["signature"] = document["signature"][:-4] + (
        "AAA=" if not document["signature"].endswith("AAA=") else "BBB="
    )
    assert _check(OLD, certificate_parse(document=json.dumps(document)), WORDS) == Finding.BAD_SIGNATURE
    document["signature"] = "not base64!"
    assert _check(OLD, certificate_parse(document=json.dumps(document)), WORDS) == Finding.BAD_SIGNATURE
    document["certificate"]["key_id"] = "never-published"
    assert _check(OLD, certificate_parse(document=json.dumps(document)), WORDS) == Finding.UNKNOWN_KEY


@pytest.mark.parametrize(
    ("document", "said"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", 'no "certificate"'),
        ('{"certificate": {}, "signature": "x"}', "missing version"),
        ("{" * 100_000, "too large"),
        ('{"certificate": {"version": true}, "signature": ""}', 'no "signature"'),
    ],
)
def test_what_is_not_a_certificate_is_refused_in_words(document: str, said: str) -> None:
    with pytest.raises(CertificateUnreadable, match=said):
        certificate_parse(document=document)


def test_a_certificate_with_an_extra_field_or_another_version_is_refused() -> None:
    document = json.loads(_sign(OLD).document())
    document["certificate"]["raiser"] = "someone"
    with pytest.raises(CertificateUnreadable, match="unknown raiser"):
        certificate_parse(document=json.dumps(document))
    del document["certificate"]["raiser"]
    document["certificate"]["version"] = 2
    with pytest.raises(CertificateUnreadable, match="version"):
        certificate_parse(document=json.dumps(document))


def test_keys_are_refused_in_words_that_never_repeat_the_seed() -> None:
    for entries, said in [
        ((), "holds no key"),
        (("bad id!:AAAA",), "is not a key id"),
        (("k1:AAAA",), "not a base64 Ed25519 seed"),
        ((_entry("k1"), _entry("k1")), "appears twice"),
    ]:
        with pytest.raises(ValueError, match=said) as refused:
            keyring_parse(entries=entries)
        assert "AAAA" not in str(refused.value)
    published = ROTATED.published()
    assert [(k["key_id"], k["current"]) for k in published] == [("2026b", True), ("2026a", False)]
    assert all(len(base64.b64decode(k["public_key"])) == 32 for k in published)
