from __future__ import annotations

from typing import Any

from django.db import migrations, models

from backend.concerns.crypto import decrypt_text, encrypt_text


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
