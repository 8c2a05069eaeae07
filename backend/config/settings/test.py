"""The test suite: the embedded default (``local``), whose database and broker the environment names
(`make test` gives it throwaway PostgreSQL and Redis; unset, SQLite and the filesystem broker), plus
what only tests want. The processes tests start (worker, beat, gunicorn) inherit this module."""

from __future__ import annotations

from backend.config.settings.local import *  # noqa: F403

# Demo users are created in almost every test; the production hasher would cost seconds each time.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
