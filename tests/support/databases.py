"""Which database the suite runs on. `make test` runs everything on PostgreSQL, then the API tests
again on SQLite and the filesystem broker: the embedded default that `make run` starts."""

from __future__ import annotations

from django.conf import settings

ON_SQLITE = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"
