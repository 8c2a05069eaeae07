"""Sessions kept no longer than they live: what `manage.py clearsessions` does, run by beat."""

from __future__ import annotations

from datetime import datetime
from importlib import import_module

from django.conf import settings
from django.db import transaction
from django.utils import timezone


def sessions_clear_expired(*, now: datetime | None = None, batch: int = 1000) -> int:
    """Delete every expired session from the store the session engine keeps (the database by default).
    A browser forgets its cookie at expiry; without this the row, with whatever it held, would stay.

    A database store (``db``, ``cached_db``) is cleared by session key, ``batch`` rows a statement,
    and the count returned; any other store clears itself (``clear_expired``) and counts nothing."""
    store = import_module(settings.SESSION_ENGINE).SessionStore
    model_class = getattr(store, "get_model_class", None)
    if model_class is None:
        store.clear_expired()
        return 0
    rows = model_class()._default_manager.filter(expire_date__lt=now or timezone.now())
    deleted, last = 0, ""
    while True:
        keys = list(
            rows.filter(session_key__gt=last).order_by("session_key").values_list("session_key", flat=True)[:batch]
        )
        if not keys:
            return deleted
        with transaction.atomic():
            deleted += rows.filter(session_key__in=keys).delete()[0]
        last = keys[-1]
