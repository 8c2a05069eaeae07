"""Settings every shape shares, all from environment variables.

Not runnable alone: it holds no secrets. ``local`` (the embedded default), ``test`` and ``production``
start from it (see ``backend/config/settings/__init__.py``). Where a setting differs between shapes,
this module holds the value that is safe in production (no known tokens, no hosts, SMTP, hashed
static files) and ``local`` the convenience, so a setting production forgot is never a demo's.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from backend.config.env import env_bool, env_list

REPO_DIR = Path(__file__).resolve().parents[3]
VAR_DIR = Path(os.environ.get("CANDOUR_VAR_DIR", REPO_DIR / "var"))

DEBUG = env_bool("DJANGO_DEBUG", default=False)

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")
# The public address Twilio and e-mail links use; behind a proxy it is not what the request says.
CANDOUR_BASE_URL = os.environ.get("CANDOUR_BASE_URL", "http://127.0.0.1:8000")

INSTALLED_APPS = [
    # Django's admin on Candour's own site: staff sign in at /sign-in/ and pass the second factor first.
    "backend.config.admin_apps.CandourAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "axes",
    "backend.organisations",
    "backend.concerns",
    "backend.oversight",
    # "You said, we did" and lessons shared across organisations, downstream of concerns and oversight.
    "backend.learning",
    # Downstream of every app: the retention schedule, its sweep and `manage.py retention_sweep`.
    "backend.retention",
    "notifications",
    "frontend",
    # Request metrics for /metrics (backend/config/metrics.py), from the two middlewares below.
    "django_prometheus",
]

MIDDLEWARE = [
    # First and (before axes) last: django-prometheus times and counts every request by view name.
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    # Before anything that may log: every log line of the request carries its id.
    "backend.config.request_id.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "backend.config.middleware.SecurityHeadersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "backend.config.middleware.ForgetClientAddressMiddleware",
    # Outside everything that can fail on a request (sessions, users, views): an unhandled error under
    # /api/ answers JSON.
    "backend.api.errors.ServerErrorJsonMiddleware",
    # A view that loses the database answers 503 with Retry-After (the client sends again), not 500.
    "backend.config.middleware.DatabaseUnavailableMiddleware",
    "backend.config.middleware.RequestSizeLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Which second-factor device, if any, this session passed (request.user.is_verified()).
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
    # Last, as django-axes asks: a sign-in refused for a locked username becomes the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "backend.config.urls"
WSGI_APPLICATION = "backend.config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "frontend.context_processors.staff",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'candour.sqlite3'}"),
        # Persistent connections matter: one measured view went from 113 to 411 requests a second.
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite serves the embedded demo only: WAL lets the web, worker and beat read while one writes.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL;",
    }
# Behind PgBouncer in transaction pooling (infra/pgbouncer, README Deployment) a server connection is
# Candour's for one transaction only: a named cursor held across transactions (queryset.iterator()
# outside atomic) would land on another server connection, so such cursors are turned off.
if env_bool("DATABASE_TRANSACTION_POOLING"):
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "frontend:login"
LOGIN_REDIRECT_URL = "frontend:inbox"
LOGOUT_REDIRECT_URL = "frontend:home"

# Staff sign-in (README, Security and privacy). Every shape has the same rules: no setting turns the
# lockout or the second factor off, in production or in the demo and the tests.
# django-axes counts wrong passwords per username, never per address (Candour never knows one), on
# the one sign-in page staff and the admin share. Raisers never sign in, so nothing of theirs is counted.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_LOCKOUT_PARAMETERS = ["username"]
AXES_FAILURE_LIMIT = 10
AXES_COOLOFF_TIME = timedelta(minutes=15)
# Tries while locked are neither counted nor stored: the lock ends a cool-off after the tenth wrong
# password however long someone keeps trying, and a flood writes nothing.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# The right password clears the count, so a member of staff who mistyped is not locked later.
AXES_RESET_ON_SUCCESS = True
# No address in any row: axes would store the request's address (ForgetClientAddressMiddleware has
# blanked it to 0.0.0.0); this stores none. No log of successful sign-ins (username and time) either.
AXES_CLIENT_IP_CALLABLE = "backend.config.lockout.client_address_none"
AXES_DISABLE_ACCESS_LOG = True
AXES_ENABLE_ACCESS_FAILURE_LOG = False
# Masked in the form fields axes keeps with an attempt (the password always is): the CSRF token would
# tie the attempts to one browser.
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "csrfmiddlewaretoken"]
# The lockout page (429, in words): named by string, as ROOT_URLCONF names the pages.
AXES_LOCKOUT_CALLABLE = "frontend.sign_in_views.locked_out_page"
# Two-step sign-in (django-otp): an authenticator app (TOTP) or a one-time backup code. Which roles
# must pass it: backend/organisations/second_factor.py. Wrong codes slow each device down (1, 2, 4,
# 8 … seconds between tries), django-otp's own throttle.
OTP_TOTP_ISSUER = "Candour"
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
SILENCED_SYSTEM_CHECKS = [
    # axes.W006 asks for the address among the lockout parameters; Candour never knows an address.
    "axes.W006",
]

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "Europe/London"
USE_I18N = True
USE_TZ = True
# Catalogues for other languages (Welsh, easy read): `manage.py makemessages -l cy` writes here, and
# every word a person reads is marked in the templates and views (tests/integration/test_translations.py).
LOCALE_PATHS = [REPO_DIR / "frontend" / "locale"]

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [REPO_DIR / "frontend" / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Hashed names from `collectstatic`; the embedded default serves through the finders instead.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = False

# Wrong receipt codes count against one global ceiling a minute; a right code is never refused. At
# 1,200 (20 a second) junk at 10 a second never reaches it, so a raiser who mistypes still hears "not
# found", not "busy"; guessing a 120-bit code at any rate takes longer than the universe has existed.
CANDOUR_RECEIPT_ATTEMPTS_PER_MINUTE = int(os.environ.get("CANDOUR_RECEIPT_ATTEMPTS_PER_MINUTE", "1200"))

# Request bodies: a concern's narrative is capped at 20,000 characters; anything far beyond the
# whole form is refused before it is parsed (413), not stored in part.
DATA_UPLOAD_MAX_MEMORY_SIZE = 256 * 1024
DATA_UPLOAD_MAX_NUMBER_FIELDS = 200

# An anonymous raiser keeps no cookie beyond a short-lived session.
SESSION_COOKIE_AGE = 60 * 60 * 8
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
# Django's default keeps the CSRF cookie a year, a lasting identifier of the browser; it lives no
# longer than a session.
CSRF_COOKIE_AGE = SESSION_COOKIE_AGE
X_FRAME_OPTIONS = "DENY"
# Pages load only Candour's own files: no inline script or style anywhere (the API docs page adds
# only what Swagger UI needs, in backend/api/urls.py), no plug-ins, never framed, forms post home.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "frame-ancestors": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
    }
}
# The browser features no page of Candour's uses, switched off (SecurityHeadersMiddleware).
CANDOUR_PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

REST_FRAMEWORK = {
    # Tokens for integrations, the session for pages.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        # The session only once its second factor has passed, where it owes one (pages' rule).
        "backend.api.authentication.SecondFactorSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "backend.api.errors.api_exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Candour API",
    "DESCRIPTION": "Raise concerns, follow them up with a receipt, and handle them.",
    "VERSION": "1.0.0",
    # The docs page works offline: its assets come from the sidecar package, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SERVE_INCLUDE_SCHEMA": False,
    # Every error the API can answer is in the schema, so clients (and schemathesis) can rely on it.
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "backend.api.schema.document_errors"],
}

# Celery. The embedded default uses the filesystem broker, which needs no server. Every folder it
# writes is under var/: the control folder (its exchange tables, the workers' pidbox) would otherwise
# be ./control, wherever the process started.
_broker_dir = VAR_DIR / "broker"
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("queue", "processed", "control"):
        (_broker_dir / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery closes a task's database connection after it unless this is set, and then only every this
# many tasks: workers keep their connections, as the web does, and backend/config/celery.py closes the
# broken and the old ones (CONN_MAX_AGE) around each task instead.
CELERY_DB_REUSE_MAX = 1000
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"
# Beat's record of when each entry last ran (`celery beat -s` overrides it); ./celerybeat-schedule otherwise.
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# The entry points live outside backend; Celery finds them by name, so backend never imports them.
CELERY_IMPORTS = ("workflows.tasks", "notifications.tasks")
# The clock sweep has a queue of its own: behind a default queue busy with notices, sweep ticks
# expired (each expires after one interval) before a worker reached them. Inbound texts have theirs,
# "sms": processing a text and sending its reply, and asking Twilio to forget texts, spend most of
# their time waiting on Twilio's API (a few hundred milliseconds a call), so their workers run many
# threads (infra/k8s/base/workers.yaml), where a prefork worker of two processes answered about 4
# texts a second (BENCHMARKS.md, SMS webhook). A worker that takes every queue (`-Q celery,clocks,sms`:
# infra/scripts/run.py, tests/support/processes.py) suits a small site.
SMS_QUEUE = {"queue": "sms"}
CELERY_TASK_ROUTES = {
    "workflows.tasks.clocks_sweep": {"queue": "clocks"},
    "workflows.tasks.sms_inbound_process": SMS_QUEUE,
    "workflows.tasks.sms_inbound_requeue_stale": SMS_QUEUE,
    "notifications.tasks.redaction_run": SMS_QUEUE,
    "notifications.tasks.redactions_requeue_stale": SMS_QUEUE,
}
CANDOUR_SWEEP_SECONDS = float(os.environ.get("CANDOUR_SWEEP_SECONDS", "30"))
CANDOUR_REQUEUE_SECONDS = float(os.environ.get("CANDOUR_REQUEUE_SECONDS", "60"))
# A delivery untouched this long is taken to have lost its task (broker down, worker killed).
CANDOUR_REQUEUE_AFTER_SECONDS = float(os.environ.get("CANDOUR_REQUEUE_AFTER_SECONDS", "120"))
# A notice whose sends keep failing (e-mail or Twilio down) is tried again, backing off to once an hour
# at most, for this long after it was written; then it is given up (undeliverable), shown in the admin
# and counted on the oversight dashboard. Its recipients' in-app notice stands either way.
CANDOUR_DELIVERY_GIVE_UP_HOURS = float(os.environ.get("CANDOUR_DELIVERY_GIVE_UP_HOURS", "48"))
# An inbound text not processed this long after it arrived is taken to have lost its task.
CANDOUR_SMS_REQUEUE_AFTER_SECONDS = float(os.environ.get("CANDOUR_SMS_REQUEUE_AFTER_SECONDS", "60"))
# A burst of new concerns on one unit (a news story, or junk meant to flood the guardians) is never
# refused; past this many e-mails or texts of one unit's hour to one guardian, the rest go as one
# digest this long after the first held back (each concern is still in the inbox).
CANDOUR_NOTICE_FOLD_AFTER = int(os.environ.get("CANDOUR_NOTICE_FOLD_AFTER", "5"))
CANDOUR_NOTICE_DIGEST_AFTER_SECONDS = int(os.environ.get("CANDOUR_NOTICE_DIGEST_AFTER_SECONDS", "3600"))
# Where and how often the audit chain's heads are exported. In production point it at storage the
# application cannot rewrite (an append-only mount, a file shipped to a log host as it grows).
CANDOUR_AUDIT_HEADS_FILE = os.environ.get("CANDOUR_AUDIT_HEADS_FILE", str(VAR_DIR / "audit-heads.log"))
CANDOUR_AUDIT_HEADS_SECONDS = float(os.environ.get("CANDOUR_AUDIT_HEADS_SECONDS", "300"))
# How often the early-warning pass runs: nightly; it judges the last complete week each time.
CANDOUR_SIGNALS_SECONDS = float(os.environ.get("CANDOUR_SIGNALS_SECONDS", str(24 * 60 * 60)))


def _every(seconds: float, task: str, *, expires: bool = True) -> dict[str, object]:
    """A beat entry. ``expires``: a run that waited longer than its interval is superseded by the
    next one, so a backlog of ticks never piles up behind a slow run."""
    return {"task": task, "schedule": seconds} | ({"options": {"expires": seconds}} if expires else {})


CELERY_BEAT_SCHEDULE = {
    # Folds the figure deltas written with each change into the tables dashboards read.
    "figures-rollup": _every(CANDOUR_SWEEP_SECONDS, "workflows.tasks.figures_rollup"),
    # Retention: numbers of raisers whose concerns have all closed, left by any missed purge.
    "vault-purge-stale": _every(60 * 60, "workflows.tasks.vault_purge_stale", expires=False),
    # Inbound texts whose processing task was lost (broker down at commit, worker killed).
    "sms-inbound-requeue-stale": _every(CANDOUR_REQUEUE_SECONDS, "workflows.tasks.sms_inbound_requeue_stale"),
    "deliveries-requeue-stale": _every(CANDOUR_REQUEUE_SECONDS, "notifications.tasks.deliveries_requeue_stale"),
    # Twilio redactions whose task was lost, whose retries ran out, or whose final status never came.
    "redactions-requeue-stale": _every(CANDOUR_REQUEUE_SECONDS, "notifications.tasks.redactions_requeue_stale"),
    # Arrival detectors for any concern whose after-commit task was lost (a broker outage, say).
    "arrival-checks-sweep": _every(CANDOUR_SWEEP_SECONDS, "workflows.tasks.arrival_checks_sweep"),
    "clocks-sweep": _every(CANDOUR_SWEEP_SECONDS, "workflows.tasks.clocks_sweep"),
    # Early warning: the weekly series scanned for signals, once a night (the last complete week).
    "signals-detect": _every(CANDOUR_SIGNALS_SECONDS, "workflows.tasks.signals_detect", expires=False),
    # The audit chain's heads, appended to a file a rewrite of the database cannot reach.
    "audit-heads-export": _every(CANDOUR_AUDIT_HEADS_SECONDS, "workflows.tasks.audit_heads_export"),
    # Expired sessions (`manage.py clearsessions`): a raiser's follow-up session is gone from the
    # database within the hour after it ends, not only from the browser.
    "sessions-clear-expired": _every(60 * 60, "workflows.tasks.sessions_clear_expired", expires=False),
    # Retention (CANDOUR_RETENTION below): once a day, in batches; a run cut short carries on the next day.
    "retention-sweep": _every(24 * 60 * 60, "workflows.tasks.retention_sweep", expires=False),
}


# Retention: what Candour forgets, and when. The daily sweep (backend/retention/services.py, also
# `manage.py retention_sweep`) takes each kind in batches of BATCH rows. Periods are whole days, each
# overridable as CANDOUR_RETENTION_<KEY> (CANDOUR_RETENTION_CASE_FILE_DAYS=2557, say). A concern ends
# when it is closed or withdrawn. Periods for case files are set by the NHS Records Management Code
# of Practice for Health and Social Care 2021 (updated 2023), Appendix II (retention schedule); the
# default here, 10 years from closure, is our reading of its period for complaints case files, and was
# NOT confirmed against the Code, nor how the Code treats speaking-up case files: operators must confirm
# every period with their records manager (and their own retention schedule) before go-live.
# Expired sessions go too (they end with SESSION_COOKIE_AGE; beat also clears them hourly).
def _retention(key: str, default: int) -> int:
    return int(os.environ.get(f"CANDOUR_RETENTION_{key}", str(default)))


CANDOUR_RETENTION = {
    # A confidential raiser's name and contact, after their concern ended: only the guardian could see
    # them, to answer the raiser; a year on, nobody needs to.
    "CONFIDENTIAL_IDENTITY_DAYS": _retention("CONFIDENTIAL_IDENTITY_DAYS", 365),
    # The case file, after the concern ended (3653 days: ten years and their leap days): the narrative,
    # any identity still held (a named raiser's), the messages, staff's reasons for its moves, the
    # receipt, clock pause reasons and alert resolutions. The concern row stays, with its state, dates,
    # themes, figures and audit chain.
    "CASE_FILE_DAYS": _retention("CASE_FILE_DAYS", 3653),
    # Outbox rows (recipient, subject, body), after their final status (sent, delivered, given up);
    # an in-app notice stays in its recipient's inbox until read.
    "DELIVERY_DAYS": _retention("DELIVERY_DAYS", 30),
    # Inbound texts, after processing (which empties their words and number): the MessageSid and the
    # exact second a text arrived, which could place an anonymous raiser, go a week later.
    "INBOUND_SMS_DAYS": _retention("INBOUND_SMS_DAYS", 7),
    # The receipt look-up counters (one row a minute), after their minute ended.
    "THROTTLE_WINDOW_DAYS": _retention("THROTTLE_WINDOW_DAYS", 1),
    # An SMS raiser's number in the contact vault with no open concern (purged at closure already;
    # this takes any left behind, such as a texter who only asked for HELP). Beat also runs it hourly.
    "VAULT_STALE_DAYS": _retention("VAULT_STALE_DAYS", 30),
    # Rows a statement: each batch is one short transaction.
    "BATCH": _retention("BATCH", 1000),
}

# The quarterly speaking-up data return asks each raiser's professional group: the vocabulary
# (workflows.engine.vocabulary.ProfessionalGroup) holds the groups and their default words; an operator
# rewords any of them with a JSON object of value to words, e.g.
# CANDOUR_PROFESSIONAL_GROUP_LABELS='{"students": "Students and trainees"}'. Unknown values fail loudly.
CANDOUR_PROFESSIONAL_GROUP_LABELS: dict[str, str] = json.loads(
    os.environ.get("CANDOUR_PROFESSIONAL_GROUP_LABELS", "{}")
)

# E-mail: SMTP (or any Django backend); the embedded default prints to the console.
EMAIL_BACKEND = os.environ.get("DJANGO_EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS")
# A hung SMTP call outliving the requeue threshold would be sent twice; give up well before it.
EMAIL_TIMEOUT = int(os.environ.get("EMAIL_TIMEOUT", "30"))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Candour <no-reply@candour.invalid>")

# Log lines as one JSON object each (time, level, logger, message, request_id) or as plain text:
# CANDOUR_LOG_FORMAT=json|plain (production: json). Neither carries a client address or user agent.
CANDOUR_LOG_FORMAT = os.environ.get("CANDOUR_LOG_FORMAT", "plain")
if CANDOUR_LOG_FORMAT not in ("json", "plain"):
    raise ImproperlyConfigured("CANDOUR_LOG_FORMAT is json or plain")
LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "backend.config.request_id.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": CANDOUR_LOG_FORMAT, "filters": ["request_id"]}
    },
    "root": {"handlers": ["console"], "level": os.environ.get("CANDOUR_LOG_LEVEL", "INFO")},
    "loggers": {
        # Django's request logger would print the path and, for some errors, the client address.
        "django.request": {"level": "ERROR"},
        "django.server": {"level": "WARNING"},
        # django-axes says each wrong password and lockout (WARNING: the username masked, no address);
        # its INFO lines on every sign-in say nothing an operator needs.
        "axes": {"level": "WARNING"},
        # WeasyPrint writes seven INFO lines for every PDF (the report's steps): only its warnings matter.
        "weasyprint": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},
    },
}

# Twilio ---------------------------------------------------------------------------------------------
# SMS out through notifications.channels.twilio_sms, texts and status callbacks in at /twilio/sms/ and
# /twilio/status/. The auth token also checks every webhook's signature, so production has no default:
# a known token would let anyone forge texts. Without one, webhooks answer 403 and sends wait (retried).
# The embedded default has stand-ins for the local fake (local.py).
TWILIO_ACCOUNT_SID = os.environ.get("TWILIO_ACCOUNT_SID", "")
TWILIO_AUTH_TOKEN = os.environ.get("TWILIO_AUTH_TOKEN", "")
# Empty: the real Twilio. Otherwise the scheme and host of a stand-in (tests/support/fake_twilio.py).
TWILIO_API_BASE_URL = os.environ.get("TWILIO_API_BASE_URL", "")
# Outbound notices come from this number or, when TWILIO_MESSAGING_SERVICE_SID is set, from the number
# that service picks (sticky sender).
TWILIO_DEFAULT_FROM = os.environ.get("TWILIO_DEFAULT_FROM", "")
TWILIO_MESSAGING_SERVICE_SID = os.environ.get("TWILIO_MESSAGING_SERVICE_SID", "")
# Ask Twilio to report delivery to CANDOUR_BASE_URL/twilio/status/; off when Twilio cannot reach it.
TWILIO_STATUS_CALLBACK = env_bool("TWILIO_STATUS_CALLBACK", default=True)
# Seconds per call to Twilio's API, well under the requeue sweep's threshold.
TWILIO_HTTP_TIMEOUT = float(os.environ.get("TWILIO_HTTP_TIMEOUT", "15"))
# token -> number (or None when purged or opted out): the contact vault, named by path because
# notifications never imports the backend.
NOTIFICATIONS_SMS_RESOLVER = "backend.concerns.vault.vault_number_for_token"
# (message_sid, from_number, to_number, body) -> the stored text's id, or None if its MessageSid was
# stored already: the SMS conversation's first step, called by the webhook (see backend/concerns/sms.py).
CANDOUR_SMS_INBOUND_HANDLER = "backend.concerns.sms.sms_inbound_store"

# /metrics answers only a request with "Authorization: Bearer <this>"; unset, it answers no one.
CANDOUR_METRICS_TOKEN = os.environ.get("CANDOUR_METRICS_TOKEN", "")
# django-prometheus: no migration gauges (they query the database as the app loads).
PROMETHEUS_EXPORT_MIGRATIONS = False

# Sentry starts in each shape's module (sentry_init, with its environment's name); off without a DSN.
SENTRY_DSN = os.environ.get("SENTRY_DSN", "")
