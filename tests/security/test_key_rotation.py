"""Keys (trust item 9): ``manage.py encryption_rotate`` re-encrypts every encrypted field under the first
key, so the old key can be retired. Rows written under [old] are rotated under [new, old]; afterwards
[new] alone reads every one of them, and no stored value is readable with the old key alone."""

from __future__ import annotations

from datetime import UTC, datetime
from io import StringIO
from typing import Any

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.management import call_command
from django.db.models import TextField
from django.db.models.functions import Cast

from backend.concerns.crypto import ContactSpace
from backend.concerns.management.commands.encryption_rotate import _rotate_batch, encrypted_fields
from backend.concerns.models import Concern, InboundSms, Message, VaultEntry
from backend.concerns.vault import vault_store
from tests.support.factories import ConcernFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def _raw_values() -> list[str]:
    """Every non-empty stored ciphertext of every encrypted field, as the database holds it."""
    values = []
    for model, names in encrypted_fields():
        annotations = {f"_raw_{n}": Cast(n, TextField()) for n in names}
        for row in model._default_manager.annotate(**annotations).values_list(*annotations):
            values += [value for value in row if value]
    return values


def _rotate(**options: object) -> str:
    out = StringIO()
    call_command("encryption_rotate", stdout=out, **options)
    return out.getvalue()


def test_rotation_moves_every_encrypted_value_to_the_new_key(settings: Any) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.CANDOUR_ENCRYPTION_KEYS = [old]
    concerns = [
        ConcernFactory(
            identity_mode="named",
            raiser_name=f"Raiser {n}",
            raiser_contact=f"raiser{n}@example.invalid",
            what_happened=f"What happened {n}",
            when_happened="Last night",
            desired_outcome="An answer",
            now=NOW,
        )
        for n in range(7)
    ]
    vault_store(number="07700 900123", now=NOW, space=ContactSpace.RAISER)
    InboundSms.objects.create(message_sid="SM-rotate-1", received_at=NOW, payload='{"Body": "help"}')
    fields = encrypted_fields()
    assert {m for m, _ in fields} >= {Concern, Message, VaultEntry, InboundSms}  # found, not named
    written = _raw_values()
    assert len(written) >= 7 * 5 + 2

    settings.CANDOUR_ENCRYPTION_KEYS = [new, old]
    out = _rotate(batch_size=3)  # several batches per table

    assert f"done: {len(written)} value(s) re-encrypted under the first key" in out
    assert (
        "concerns.Concern (what_happened, when_happened, desired_outcome, raiser_name, raiser_contact, on_behalf_of)"
        in out
    )
    assert "done: 0 value(s)" in _rotate()  # run again: nothing is still under the old key

    settings.CANDOUR_ENCRYPTION_KEYS = [new]  # the old key retired
    for n, concern in enumerate(concerns):
        concern = Concern.objects.get(pk=concern.pk)
        assert (concern.what_happened, concern.raiser_name) == (f"What happened {n}", f"Raiser {n}")
        assert (concern.raiser_contact, concern.when_happened) == (f"raiser{n}@example.invalid", "Last night")
    assert VaultEntry.objects.get().number == "+447700900123"
    assert InboundSms.objects.get().payload == '{"Body": "help"}'
    stored = _raw_values()
    assert len(stored) == len(written)
    for token in stored:
        Fernet(new.encode()).decrypt(token.encode())
        with pytest.raises(InvalidToken):
            Fernet(old.encode()).decrypt(token.encode())


def test_rotation_resumes_from_an_id_and_refuses_a_value_no_key_reads(settings: Any) -> None:
    old, new, lost = (Fernet.generate_key().decode() for _ in range(3))
    settings.CANDOUR_ENCRYPTION_KEYS = [old]
    first, second = ConcernFactory(what_happened="first", now=NOW), ConcernFactory(what_happened="second", now=NOW)

    settings.CANDOUR_ENCRYPTION_KEYS = [new, old]
    out = _rotate(model="concerns.Concern", from_id=first.pk)
    assert "1/1 rows, 1 rewritten" in out  # only the row after the id
    settings.CANDOUR_ENCRYPTION_KEYS = [new]
    assert Concern.objects.get(pk=second.pk).what_happened == "second"

    settings.CANDOUR_ENCRYPTION_KEYS = [new, lost]  # the key the first row needs is gone
    with pytest.raises(Exception, match="no key in CANDOUR_ENCRYPTION_KEYS reads it"):
        _rotate(model="concerns.Concern")


def test_a_value_the_application_rewrote_meanwhile_is_not_overwritten(settings: Any) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.CANDOUR_ENCRYPTION_KEYS = [old]
    concern = ConcernFactory(what_happened="as raised", desired_outcome="an answer", now=NOW)
    settings.CANDOUR_ENCRYPTION_KEYS = [new, old]
    names = ["what_happened", "desired_outcome"]
    read = Concern.objects.filter(pk=concern.pk).annotate(**{f"_raw_{n}": Cast(n, TextField()) for n in names})
    rows = list(read.values_list("pk", *(f"_raw_{n}" for n in names)))
    Concern.objects.filter(pk=concern.pk).update(what_happened="edited meanwhile")  # under the new key

    assert _rotate_batch(Concern, names, rows) == 2

    settings.CANDOUR_ENCRYPTION_KEYS = [new]
    concern.refresh_from_db()
    assert (concern.what_happened, concern.desired_outcome) == ("edited meanwhile", "an answer")
