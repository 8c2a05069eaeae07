"""Bench-only settings: Candour's own, plus the bare comparator app and its URL. Never used in production."""

from backend.config.settings import local as _base
from backend.config.settings.local import *  # noqa: F403

INSTALLED_APPS = [*_base.INSTALLED_APPS, "tests.bench.bare"]
ROOT_URLCONF = "tests.bench.urls"
