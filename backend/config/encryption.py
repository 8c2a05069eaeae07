"""Field encryption, the project's one implementation: text encrypted at rest with the keys in
CANDOUR_ENCRYPTION_KEYS (Fernet; MultiFernet so a new key can be put first and old ones retired once
``encryption_rotate`` has moved every row). In backend.config, beside the write module, because the
outbox (notifications, which knows nothing of concerns) encrypts its private bodies with it too."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import migrations, models


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in keys])


def encrypt_text(value: str) -> str:
    return _fernet(tuple(settings.CANDOUR_ENCRYPTION_KEYS)).encrypt(value.encode()).decode()


def decrypt_text(token: str) -> str:
    try:
        return _fernet(tuple(settings.CANDOUR_ENCRYPTION_KEYS)).decrypt(token.encode()).decode()
    except InvalidToken as exc:  # a key was removed before rotation finished
        raise ValueError("cannot decrypt a stored field: is an old key missing from CANDOUR_ENCRYPTION_KEYS?") from exc


def token_rotate(token: str) -> str | None:
    """A stored ciphertext re-encrypted under the first key (MultiFernet.rotate), or None when the first
    key already reads it: nothing to write, so ``encryption_rotate`` run again rewrites nothing twice.

    Raises ValueError if no key in CANDOUR_ENCRYPTION_KEYS reads it."""
    keys = tuple(settings.CANDOUR_ENCRYPTION_KEYS)
    data = token.encode()
    try:
        _fernet(keys[:1]).decrypt(data)
        return None
    except InvalidToken:
        pass
    try:
        return _fernet(keys).rotate(data).decode()
    except InvalidToken as exc:
        raise ValueError("cannot rotate a stored field: no key in CANDOUR_ENCRYPTION_KEYS reads it") from exc


class EncryptedTextField(models.TextField):
    """Text encrypted at rest with the project's keys (Fernet: AES-128-CBC with HMAC).

    The database only ever holds ciphertext; an empty value is stored empty so that "not given"
    stays visible without decrypting.
    """

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        if not value:
            return value
        return decrypt_text(value)

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if not value:
            return value
        return encrypt_text(str(value))


def encrypt_in_place(table: str, column: str) -> migrations.RunPython:
    """A migration operation for a column that becomes an EncryptedTextField: the plain text already
    in it is encrypted, in batches (the model can no longer read it as it is)."""

    def apply(apps: Any, schema_editor: Any) -> None:
        last = 0
        with schema_editor.connection.cursor() as cursor:
            while True:
                cursor.execute(
                    f"SELECT id, {column} FROM {table} WHERE id > %s AND {column} <> '' ORDER BY id LIMIT 1000",  # noqa: S608
                    [last],
                )
                rows = cursor.fetchall()
                if not rows:
                    return
                for pk, text in rows:
                    cursor.execute(f"UPDATE {table} SET {column} = %s WHERE id = %s", [encrypt_text(text), pk])  # noqa: S608
                last = rows[-1][0]

    return migrations.RunPython(apply, migrations.RunPython.noop)
