"""Settings shared by every configuration. Everything deployment-specific comes from
the environment (see the table in README.md); the defaults suit a developer machine."""

from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured

from wfo.embedded import (
    VAR_DIR,
    embedded_database_url,
    filesystem_broker_options,
    filesystem_broker_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()

SECRET_KEY = env("DJANGO_SECRET_KEY", default="dev-only-insecure-key-change-me")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "django_htmx",
    "axes",
    "csp",
    "core",
    "allocation",
    "quality",
    "reporting",
    "demo",
]

MIDDLEWARE = [
    "core.metrics.RequestMetricsMiddleware",
    "core.middleware.ApiHostMiddleware",
    "core.middleware.RequestSizeLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "core.middleware.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "core.middleware.BrowserTimezoneMiddleware",
    "core.middleware.DomainErrorPageMiddleware",
    "core.middleware.DatabaseUnavailableMiddleware",
    "allocation.middleware.AgentLastSeenMiddleware",
    # Last: it answers a locked-out login attempt (django-axes).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "wfo.urls"
WSGI_APPLICATION = "wfo.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "core.context_processors.roles",
            ],
        },
    },
]

# PostgreSQL only: allocation relies on SKIP LOCKED, partial indexes and LATERAL.
# Without DATABASE_URL an embedded server (pgserver) starts under var/pgdata.
DATABASES = {"default": env.db_url_config(env("DATABASE_URL", default="") or embedded_database_url())}
# Django's PostgreSQL backend, whose health check below costs no round trip while a kept
# connection is idle and sound (core/postgresql/base.py).
PORTAL_DATABASE_ENGINE = "core.postgresql"
DATABASES["default"]["ENGINE"] = PORTAL_DATABASE_ENGINE
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Server-side parameter binding lets psycopg prepare statements it sees repeatedly, so the
# allocation statements are planned once per connection instead of on every call.
# Turn off behind a transaction-mode connection pooler (PgBouncer), which cannot keep them.
if env.bool("DATABASE_SERVER_SIDE_BINDING", default=True):
    DATABASES["default"].setdefault("OPTIONS", {}).update(server_side_binding=True, prepare_threshold=5)


def _jit_off(database: dict) -> None:
    """No JIT compiling: the portal's statements are short, and a plan whose estimate passes
    jit_above_cost (the wallboard's counts over 50,000 open items) spent 70 ms compiling to
    save nothing. Behind a pooler that refuses startup options (PgBouncer without
    ignore_startup_parameters = options), set DATABASE_JIT_OFF=false and turn it off on the
    server instead."""
    if env.bool("DATABASE_JIT_OFF", default=True):
        options = database.setdefault("OPTIONS", {})
        options["options"] = f"{options.get('options', '')} -c jit=off".strip()


_jit_off(DATABASES["default"])
# Reports may read their rollups from a read replica of the primary (reporting/routers.py):
# the history pages then never load the primary that allocation runs on.
if env("REPORTS_DATABASE_URL", default=""):
    DATABASES["reports"] = env.db_url_config(env("REPORTS_DATABASE_URL"))
    DATABASES["reports"]["ENGINE"] = PORTAL_DATABASE_ENGINE
    DATABASES["reports"]["TEST"] = {"MIRROR": "default"}
    _jit_off(DATABASES["reports"])
DATABASE_ROUTERS = ["reporting.routers.ReportsReplicaRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env("DJANGO_TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True
# Dates and times as the portal writes them ("Thu 3 Dec 2026, 17:19"), wherever Django
# formats one without being told how: admin's lists and read-only fields (wfo/formats/).
FORMAT_MODULE_PATH = ["wfo.formats"]

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env("DJANGO_STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "allocation.identity.TokenWithProfileAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "core.api.StandardPagination",
    "DEFAULT_FILTER_BACKENDS": ["core.api.StrictFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "core.schema.ApiAutoSchema",
    # DRF's defaults, with JSON bounded (core/parsers.py); forms and multipart are flat.
    "DEFAULT_PARSER_CLASSES": [
        "core.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "EXCEPTION_HANDLER": "core.api.exception_handler",
    "NON_FIELD_ERRORS_KEY": "non_field_errors",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "WFO Portal API",
    "DESCRIPTION": "Work intake, allocation and agent actions for back-office work items.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI served from static files (drf-spectacular-sidecar): no CDN, works offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    # The portal's own icon is linked by templates/api_docs.html (through the static files'
    # names, which production hashes), not Swagger's.
    "SWAGGER_UI_FAVICON_HREF": "",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "ItemStatusEnum": "allocation.models.ItemStatus",
        "EvaluationStatusEnum": "quality.models.EvaluationStatus",
        "EventKindEnum": "allocation.models.EventKind",
        "IntegrationEventKindEnum": "allocation.models.outbound.INTEGRATION_KIND_CHOICES",
    },
}

# Celery. Without CELERY_BROKER_URL, kombu's filesystem transport (folders under var/).
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="") or filesystem_broker_url()
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT = "wfo.broker:Transport"  # messages appear whole (wfo/broker.py)
    CELERY_BROKER_TRANSPORT_OPTIONS = filesystem_broker_options(
        Path(env("WFO_BROKER_DIR", default=str(VAR_DIR / "broker")))
    )
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=300)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=240)
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A broker that goes away (Redis restarted or unreachable) is waited for, however long:
# worker and beat reconnect by themselves. Every job reads its work from PostgreSQL, so a
# message lost with the broker loses no work: the next tick does it (README, Operations).
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
# django_celery_beat's, with the jobs that share an interval spread over it (core/beat.py).
CELERY_BEAT_SCHEDULER = "core.beat:SpreadScheduler"
# A worker keeps its database connection from task to task (wfo/celery.py): Celery would
# otherwise open a new one for every task, closing it only every this many.
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=1000)
CELERY_TIMEZONE = TIME_ZONE

# Allocation defaults (per-queue values override them where a queue has its own).
WFO_MAX_BATCH_ITEMS = env.int("WFO_MAX_BATCH_ITEMS", default=1000)
# Most items one bulk move takes (bulk reassign page and API, admin actions on items).
WFO_MAX_BULK_ITEMS = env.int("WFO_MAX_BULK_ITEMS", default=500)
WFO_MAX_PAYLOAD_BYTES = env.int("WFO_MAX_PAYLOAD_BYTES", default=64 * 1024)
WFO_MAX_PEND = timedelta(days=env.int("WFO_MAX_PEND_DAYS", default=365))
# Intake refuses a receipt time further in the past than this (the future is refused beyond
# a few minutes of clock skew).
WFO_MAX_RECEIPT_AGE = timedelta(days=env.int("WFO_MAX_RECEIPT_AGE_DAYS", default=366))
WFO_WORKER_HEARTBEAT_SECONDS = env.int("WFO_WORKER_HEARTBEAT_SECONDS", default=60)
# Outbound webhooks (allocation/services/webhooks.py): a request's timeout, the tries of one
# event before it is dead-lettered (a subscription may set its own), the wait before the
# first retry (doubling each time, with jitter, up to the cap), and how long a subscription
# may fail without a success before it is paused and its owner told.
WFO_WEBHOOK_TIMEOUT_SECONDS = env.float("WFO_WEBHOOK_TIMEOUT_SECONDS", default=10.0)
WFO_WEBHOOK_MAX_ATTEMPTS = env.int("WFO_WEBHOOK_MAX_ATTEMPTS", default=12)
WFO_WEBHOOK_RETRY_BASE = timedelta(seconds=env.float("WFO_WEBHOOK_RETRY_BASE_SECONDS", default=10.0))
WFO_WEBHOOK_RETRY_CAP = timedelta(seconds=env.float("WFO_WEBHOOK_RETRY_CAP_SECONDS", default=3600.0))
# A source system's subscription may point at a private or loopback address only where
# this is on (development, tests): in production it must not reach into the portal's network.
WFO_WEBHOOK_PRIVATE_ADDRESSES_ALLOWED = env.bool("WFO_WEBHOOK_PRIVATE_ADDRESSES_ALLOWED", default=False)
WFO_WEBHOOK_PAUSE_AFTER = timedelta(hours=env.float("WFO_WEBHOOK_PAUSE_AFTER_HOURS", default=24.0))
DEFAULT_FROM_EMAIL = env("DJANGO_DEFAULT_FROM_EMAIL", default="WFO Portal <wfo-portal@localhost>")
# Rebalancing (allocation/services/rebalancing.py): how long an agent may be away or
# offline before its items move, and how long a rejected push is not offered to it again.
WFO_REBALANCE_GRACE = timedelta(minutes=env.int("WFO_REBALANCE_GRACE_MINUTES", default=15))
WFO_PUSH_REJECT_COOLDOWN = timedelta(minutes=env.int("WFO_PUSH_REJECT_COOLDOWN_MINUTES", default=60))
# How long a due follow-up waits for its agent while the agent is at capacity, before it goes to the queue.
WFO_FOLLOW_UP_WAIT = timedelta(minutes=env.int("WFO_FOLLOW_UP_WAIT_MINUTES", default=30))
# How long a released item is not offered again to the agent who released it.
WFO_RELEASE_COOLDOWN = timedelta(minutes=env.int("WFO_RELEASE_COOLDOWN_MINUTES", default=60))
# An agent who made no request for this long (no page, no API call) is set offline.
WFO_PRESENCE_IDLE = timedelta(minutes=env.int("WFO_PRESENCE_IDLE_MINUTES", default=30))
# How often an agent's last visit is written, at most (allocation/middleware.py).
WFO_AGENT_SEEN_EVERY = timedelta(seconds=env.float("WFO_AGENT_SEEN_EVERY_SECONDS", default=60.0))
# Links in e-mails point here.
WFO_PORTAL_URL = env("WFO_PORTAL_URL", default="http://127.0.0.1:8000")
# How often an open wallboard reloads itself (htmx polling).
WFO_WALLBOARD_REFRESH_SECONDS = env.int("WFO_WALLBOARD_REFRESH_SECONDS", default=15)
# How often an open inbox reloads its list (htmx polling).
WFO_INBOX_REFRESH_SECONDS = env.int("WFO_INBOX_REFRESH_SECONDS", default=30)

LOG_FORMATS = ("plain", "json")


def log_format(*, default: str) -> str:
    """WFO_LOG_FORMAT, checked: a typo would otherwise stop every process with logging's
    "Unable to configure handler 'console'"."""
    chosen = env("WFO_LOG_FORMAT", default=default)
    if chosen not in LOG_FORMATS:
        raise ImproperlyConfigured(f"WFO_LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, not {chosen!r}.")
    return chosen


LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        # One JSON object per line for log shippers (WFO_LOG_FORMAT=json; production's default).
        "json": {"()": "pythonjsonlogger.json.JsonFormatter",
                 "format": "%(asctime)s %(levelname)s %(name)s %(message)s %(process)d",
                 "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"}},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": log_format(default="plain")}},
    "root": {"handlers": ["console"], "level": env("WFO_LOG_LEVEL", default="INFO")},
    "loggers": {"pgserver": {"level": "WARNING"}},
}

# Abuse ------------------------------------------------------------------------------------
# Login lockout (django-axes): after WFO_LOGIN_FAILURE_LIMIT failures for one username from
# one address, that pair is locked out for WFO_LOGIN_LOCKOUT_MINUTES (a 429 page); a
# successful login resets the count. Tokens (the API) are not passwords and not counted.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    # Django's model backend, its signed-in user read with the agent profile (one statement).
    "allocation.identity.UserWithProfileBackend",
]
# Django's database sessions, read with a plain statement.
SESSION_ENGINE = "core.sessions"
AXES_FAILURE_LIMIT = env.int("WFO_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("WFO_LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False
# Bodies larger than this are refused with 413 before they are read (a bulk intake of
# WFO_MAX_BATCH_ITEMS items fits); Django's own parsing limits stay as a second line.
WFO_MAX_REQUEST_BYTES = env.int("WFO_MAX_REQUEST_BYTES", default=10 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = WFO_MAX_REQUEST_BYTES
# A JSON body nested deeper, or holding more values, is refused with a 400 before it is parsed
# (core/parsers.py). The largest intake the byte limit lets through, WFO_MAX_BATCH_ITEMS items
# whose payloads of short fields fill it, holds 880,000 values; a parse of 2,000,000 builds at
# most about 200 MB. Raise both limits together.
WFO_MAX_JSON_DEPTH = env.int("WFO_MAX_JSON_DEPTH", default=32)
WFO_MAX_JSON_ELEMENTS = env.int("WFO_MAX_JSON_ELEMENTS", default=2_000_000)
# Security headers on every response (SecurityMiddleware and XFrameOptionsMiddleware add
# nosniff, Referrer-Policy, Cross-Origin-Opener-Policy and X-Frame-Options: DENY).
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
# Every page of the portal may run only its own scripts (vendored, no inline code) and be
# framed by nobody (django-csp). The admin site and the Swagger docs are third-party pages
# with inline scripts: they keep Django's other protections without this header.
CONTENT_SECURITY_POLICY = {
    "EXCLUDE_URL_PREFIXES": ["/admin/", "/api/docs/"],
    "DIRECTIVES": {
        "default-src": [SELF], "script-src": [SELF], "style-src": [SELF, UNSAFE_INLINE], "img-src": [SELF, "data:"],
        "connect-src": [SELF], "font-src": [SELF], "object-src": [NONE], "base-uri": [SELF],
        "form-action": [SELF], "frame-ancestors": [NONE],
    },
}

# Prometheus metrics at /metrics/ (core/metrics.py). With a bearer token set, scrapes must
# send it. Under gunicorn with several workers set PROMETHEUS_MULTIPROC_DIR so the workers'
# counters add up.
WFO_METRICS_TOKEN = env("WFO_METRICS_TOKEN", default="")
