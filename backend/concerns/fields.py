from __future__ import annotations

from typing import Any

from django.db import models

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
