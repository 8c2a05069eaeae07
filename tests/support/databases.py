"""Which database the suite runs on. `make test` runs everything on PostgreSQL, then the API tests
again on SQLite and the filesystem broker: the embedded default that `make run` starts."""

from __future__ import annotations

import pytest
from django.conf import settings

ON_SQLITE = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"

# The concern lists' theme filter uses a JSON lookup SQLite lacks (`themes__contains`, in
# backend/api/views.py ConcernFilter.filter_theme): a 500 there until the lookup is vendor neutral.
# Strict: once it passes on SQLite the mark must go.
theme_filter_fails_on_sqlite = pytest.mark.xfail(
    ON_SQLITE, strict=True, reason="theme filter on SQLite: fixed with the one write module"
)
