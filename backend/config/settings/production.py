"""Production (``CANDOUR_PRODUCTION=1``, or DJANGO_SETTINGS_MODULE naming this module): Candour refuses
to start unless every secret is in the environment, and turns on every transport-security setting
that ``manage.py check --deploy`` asks for. README, Production, lists the variables."""

from __future__ import annotations

import os

from backend.config.env import env_bool
from backend.config.secrets import load_secrets
from backend.config.sentry import sentry_init
from backend.config.settings.base import *  # noqa: F403
from backend.config.settings.base import SENTRY_DSN, VAR_DIR

_secrets = load_secrets(production=True, var_dir=VAR_DIR)
SECRET_KEY = _secrets.secret_key
CANDOUR_RECEIPT_PEPPER = _secrets.receipt_pepper
CANDOUR_CONTACT_PEPPER = _secrets.contact_pepper
CANDOUR_ENCRYPTION_KEYS = _secrets.encryption_keys

SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_SECURE_HSTS_SECONDS", str(60 * 60 * 24 * 365)))
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
if env_bool("DJANGO_BEHIND_PROXY"):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]

sentry_init(dsn=SENTRY_DSN, environment="production")
