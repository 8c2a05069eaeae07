"""Production (``CANDOUR_PRODUCTION=1``, or DJANGO_SETTINGS_MODULE naming this module): Candour refuses
to start unless every secret is in the environment and DATABASE_URL and CELERY_BROKER_URL name servers
(PostgreSQL and a broker such as Redis, never the demo's SQLite file or filesystem broker), and turns
on every transport-security setting that ``manage.py check --deploy`` asks for. README, Production,
lists the variables."""

from __future__ import annotations

import os

from django.core.exceptions import ImproperlyConfigured

from backend.config.env import env_bool
from backend.config.secrets import load_secrets
from backend.config.sentry import sentry_init
from backend.config.settings.base import *  # noqa: F403
from backend.config.settings.base import CELERY_BROKER_URL, DATABASES, SENTRY_DSN, VAR_DIR

_secrets = load_secrets(production=True, var_dir=VAR_DIR)


def _servers_missing() -> list[str]:
    """What is wrong with the database and the broker for production: base falls back to the embedded
    demo's SQLite file and filesystem broker, which one machine's processes share and nothing else."""
    problems = []
    if not os.environ.get("DATABASE_URL"):
        problems.append("DATABASE_URL is unset (it would be the demo's SQLite file)")
    elif DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        problems.append(f"DATABASE_URL names {DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}, not PostgreSQL")
    if not os.environ.get("CELERY_BROKER_URL"):
        problems.append("CELERY_BROKER_URL is unset (it would be the demo's filesystem broker)")
    elif CELERY_BROKER_URL.startswith(("filesystem://", "memory://")):
        problems.append(f"CELERY_BROKER_URL names the {CELERY_BROKER_URL.split(':', 1)[0]} broker, not a server")
    return problems


_problems = _servers_missing()
if _problems:
    raise ImproperlyConfigured(
        "Candour will not start in production on the embedded demo's database or broker: "
        + "; ".join(_problems)
        + " (README, Production: DATABASE_URL=postgres://…, CELERY_BROKER_URL=redis://…)"
    )

SECRET_KEY = _secrets.secret_key
CANDOUR_RECEIPT_PEPPER = _secrets.receipt_pepper
CANDOUR_CONTACT_PEPPER = _secrets.contact_pepper
CANDOUR_AUDIT_KEY = _secrets.audit_key
CANDOUR_ENCRYPTION_KEYS = _secrets.encryption_keys
CANDOUR_SIGNING_KEYS = _secrets.signing_keys

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

# One JSON object a log line in production, for the log store to index (plain if asked for).
LOGGING["handlers"]["console"]["formatter"] = os.environ.get("CANDOUR_LOG_FORMAT", "json")  # noqa: F405
