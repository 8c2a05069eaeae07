"""The embedded default, what ``make run`` starts: it needs nothing but the repository.

SQLite under var/ and the filesystem broker come from ``base`` (they are its defaults when
DATABASE_URL and CELERY_BROKER_URL are unset); this module adds secrets generated once into
var/secrets.json, local host names, e-mail on the console, static files served from the source
folders, and the stand-in Twilio credentials that the local fake (tests/support/fake_twilio.py) takes
(only while TWILIO_API_BASE_URL names it).
"""

from __future__ import annotations

import os

from django.core.exceptions import ImproperlyConfigured

from backend.config.env import env_bool, env_list
from backend.config.secrets import load_secrets
from backend.config.sentry import sentry_init
from backend.config.settings.base import *  # noqa: F403
from backend.config.settings.base import SENTRY_DSN, STATIC_ROOT, STORAGES, TWILIO_API_BASE_URL, VAR_DIR

if env_bool("CANDOUR_PRODUCTION"):
    raise ImproperlyConfigured(
        "CANDOUR_PRODUCTION=1 runs backend.config.settings.production, but DJANGO_SETTINGS_MODULE is "
        + os.environ.get("DJANGO_SETTINGS_MODULE", __name__)
    )

_secrets = load_secrets(production=False, var_dir=VAR_DIR)
SECRET_KEY = _secrets.secret_key
CANDOUR_RECEIPT_PEPPER = _secrets.receipt_pepper
CANDOUR_CONTACT_PEPPER = _secrets.contact_pepper
CANDOUR_AUDIT_KEY = _secrets.audit_key
CANDOUR_ENCRYPTION_KEYS = _secrets.encryption_keys
CANDOUR_SIGNING_KEYS = _secrets.signing_keys

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")

# Served through the finders, so a change to a source file shows without `collectstatic`; the folder
# only has to exist for WhiteNoise.
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
WHITENOISE_USE_FINDERS = True
STATIC_ROOT.mkdir(parents=True, exist_ok=True)

EMAIL_BACKEND = os.environ.get("DJANGO_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")

# Stand-ins the local fake accepts (07700 900xxx is Ofcom's range for drama: never a real phone), only
# while SMS goes to a stand-in (TWILIO_API_BASE_URL, which `make run` sets): aimed at the real Twilio,
# the embedded default has no known token either, so nobody can forge a webhook with one.
if TWILIO_API_BASE_URL:
    TWILIO_ACCOUNT_SID = os.environ.get("TWILIO_ACCOUNT_SID", "ACtest")
    TWILIO_AUTH_TOKEN = os.environ.get("TWILIO_AUTH_TOKEN", "test-token")
    TWILIO_DEFAULT_FROM = os.environ.get("TWILIO_DEFAULT_FROM", "+447700900000")

sentry_init(dsn=SENTRY_DSN, environment="development")
