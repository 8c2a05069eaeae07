"""Sessions kept no longer than they live: what `manage.py clearsessions` does, run by beat."""

from __future__ import annotations

from importlib import import_module

from django.conf import settings


def sessions_clear_expired() -> None:
    """Delete every expired session from the store the session engine keeps (the database by default).
    A browser forgets its cookie at expiry; without this the row, with whatever it held, would stay."""
    import_module(settings.SESSION_ENGINE).SessionStore.clear_expired()
