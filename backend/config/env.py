"""Reading the environment: for the settings, and for the entry points that choose which settings.

No Django here: manage.py, wsgi and the Celery app call ``settings_module_default`` before Django is
loaded.
"""

from __future__ import annotations

import os

SETTINGS_LOCAL = "backend.config.settings.local"
SETTINGS_PRODUCTION = "backend.config.settings.production"


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def settings_module_default() -> str:
    """The settings module when DJANGO_SETTINGS_MODULE names none: production under
    ``CANDOUR_PRODUCTION=1`` (README, Production), otherwise the embedded default ``make run`` uses."""
    return SETTINGS_PRODUCTION if env_bool("CANDOUR_PRODUCTION") else SETTINGS_LOCAL
