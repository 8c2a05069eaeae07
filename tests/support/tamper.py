"""A tamperer with the database owner's login: the application's role cannot change an event (the
table refuses it), so these tests first switch the refusal off, as such a person could."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection


@contextmanager
def as_table_owner() -> Iterator[None]:
    """Inside the test's transaction: triggers are off (a superuser's switch) until the block ends."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        try:
            yield
        finally:
            cursor.execute("SET LOCAL session_replication_role = origin")
