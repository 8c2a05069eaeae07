"""The encrypted field, where migrations and models of this app have always named it."""

from backend.config.encryption import EncryptedTextField, encrypt_in_place

__all__ = ["EncryptedTextField", "encrypt_in_place"]
