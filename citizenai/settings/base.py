"""Settings for every environment, read from the environment only.

With nothing set, the platform runs on its embedded default: SQLite, the in-memory channel
layer, the local-memory cache and Celery tasks executed in-process. `DATABASE_URL` and
`REDIS_URL` switch it to PostgreSQL, the Redis cache, the Redis channel layer and Celery on
the Redis broker. `citizenai.settings.production` adds the checks a public deployment needs.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import dj_database_url

from citizenai import __version__
from citizenai.env import env

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(env.str("VAR_DIR", str(BASE_DIR / "var")))

APP_VERSION = __version__
BUILD = env.str("BUILD", "dev")
ENVIRONMENT = env.str("ENVIRONMENT", "development")

# A fixed development key lets `make run` work without setup; production refuses it.
INSECURE_DEFAULT_SECRET_KEY = "django-insecure-citizenai-development-key-do-not-use-in-production"  # noqa: S105
SECRET_KEY = env.str("SECRET_KEY", INSECURE_DEFAULT_SECRET_KEY)
DEBUG = env.bool("DEBUG", False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI served from static/, never from a CDN
    "channels",
    "apps.core",
    "apps.accounts",
    "apps.concerns",
    "apps.open311",
    "apps.webhooks",
    "apps.knowledge",
    "apps.chat",
    "apps.realtime",
    "apps.analytics",
]

MIDDLEWARE = [
    "apps.core.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "apps.core.middleware.ApiBodySizeMiddleware",
    # Ours: Django's, skipped on a program's API reads (apps.core.middleware.is_program_read).
    "apps.core.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "apps.core.middleware.AuthenticationMiddleware",
    "apps.core.middleware.LazyMessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "apps.core.middleware.ApiExceptionMiddleware",
]

ROOT_URLCONF = "citizenai.urls"
WSGI_APPLICATION = "citizenai.wsgi.application"
ASGI_APPLICATION = "citizenai.asgi.application"

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
                "apps.chat.context_processors.chat_limits",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
DATABASE_URL = env.url("DATABASE_URL", ("sqlite", "postgres", "postgresql"))
# WAL and a busy timeout let web requests and in-process tasks write side by side; without
# them concurrent writers fail at once with "database is locked".
SQLITE_OPTIONS = {
    "timeout": 20,
    "transaction_mode": "IMMEDIATE",
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
}
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0)}
    if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        DATABASES["default"]["OPTIONS"] = {**SQLITE_OPTIONS, **DATABASES["default"].get("OPTIONS", {})}
    # 0 by default: under ASGI each request runs in a new thread, so kept connections would
    # pile up until PostgreSQL refuses clients (bench/foundation.py). WSGI deployments
    # (gunicorn sync workers) keep them: citizenai/wsgi.py defaults DATABASE_CONN_MAX_AGE to 60.
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", 0, minimum=0)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "db.sqlite3",
            "OPTIONS": SQLITE_OPTIONS,
        }
    }
IS_POSTGRES = DATABASES["default"]["ENGINE"].endswith("postgresql")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache, channel layer, Celery broker ----------------------------------------
REDIS_URL = env.url("REDIS_URL", ("redis", "rediss"))
CACHE_KEY_PREFIX = env.str("CACHE_KEY_PREFIX", "citizenai")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "apps.core.cache.ReusingRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": CACHE_KEY_PREFIX,
            # A Redis that hangs fails fast (redis-py waits without end by default): what reads
            # the cache falls back (credentials to PostgreSQL, sign-in lockout to the process).
            "OPTIONS": {"socket_connect_timeout": 1.0, "socket_timeout": 2.0},
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": f"{CACHE_KEY_PREFIX}:asgi"},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

CELERY_BROKER_URL = env.url("CELERY_BROKER_URL", ("redis", "rediss", "amqp")) or REDIS_URL
# Without a broker, tasks run in the calling process so the embedded default needs nothing.
CELERY_TASK_ALWAYS_EAGER = CELERY_BROKER_URL is None
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# Celery's Django fix-up closes the database connection before and after every task unless
# told to reuse it: a new PostgreSQL connection per webhook delivery held a worker to about
# 60 deliveries/s. Workers reuse one for this many tasks; citizenai/celery.py drops a broken one.
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", 1000, minimum=0)
CELERY_WORKER_PREFETCH_MULTIPLIER = env.int("CELERY_WORKER_PREFETCH_MULTIPLIER", 4, minimum=1)
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TIMEZONE = "UTC"
# Workers and beat log through LOGGING (JSON lines with LOG_FORMAT=json), as the web role does.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "purge-expired-credentials": {
        "task": "apps.accounts.tasks.purge_expired",
        "schedule": 3600.0,
    },
    "purge-expired-idempotency-keys": {
        "task": "apps.core.tasks.purge_idempotency_keys",
        "schedule": 3600.0,
    },
}

# --- Webhooks ----------------------------------------------------------------------------
WEBHOOK_DISPATCH = env.choice(
    "WEBHOOK_DISPATCH", "celery" if CELERY_BROKER_URL else "thread", ("celery", "thread", "inline")
)
WEBHOOK_RETRY_SCHEDULE = env.int_list(
    "WEBHOOK_RETRY_SCHEDULE", [0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400]
)
WEBHOOK_TIMEOUT_SECONDS = env.int("WEBHOOK_TIMEOUT_SECONDS", 10, minimum=1)
WEBHOOK_SWEEP_SECONDS = env.int("WEBHOOK_SWEEP_SECONDS", 5, minimum=1)
WEBHOOK_ORPHAN_SECONDS = env.int("WEBHOOK_ORPHAN_SECONDS", 60, minimum=1)
# Retries due within this many seconds are queued with a countdown; later ones by the sweep.
WEBHOOK_INLINE_RETRY_SECONDS = env.int("WEBHOOK_INLINE_RETRY_SECONDS", 60, minimum=0)
WEBHOOKS_ALLOW_PRIVATE_NETWORKS = env.bool("WEBHOOKS_ALLOW_PRIVATE_NETWORKS", False)
CELERY_BEAT_SCHEDULE["sweep-webhook-deliveries"] = {
    "task": "apps.webhooks.tasks.sweep_webhooks",
    "schedule": float(WEBHOOK_SWEEP_SECONDS),
}
CELERY_BEAT_SCHEDULE["purge-webhook-events"] = {
    "task": "apps.webhooks.tasks.purge_webhook_events",
    "schedule": 86400.0,
}

# --- Chat assistant ------------------------------------------------------------------------
CHAT_MAX_MESSAGE_LENGTH = env.int("CHAT_MAX_MESSAGE_LENGTH", 1000, minimum=1)
# Below this intent confidence a turn counts as "unsure"; two in a row go to a person.
CHAT_LOW_CONFIDENCE = float(env.int("CHAT_LOW_CONFIDENCE_PERCENT", 40, minimum=0, maximum=100)) / 100
CHAT_IDLE_MINUTES = env.int("CHAT_IDLE_MINUTES", 30, minimum=1, maximum=10 * 365 * 24 * 60)  # a timedelta
LLM_BASE_URL = env.url("LLM_BASE_URL", ("http", "https"))
LLM_MODEL = env.str("LLM_MODEL", "")
LLM_API_KEY = env.str("LLM_API_KEY", "")
# A wait for the provider's first byte, or for its next one; the whole answer has
# LLM_ANSWER_SECONDS, however it trickles in.
LLM_TIMEOUT_SECONDS = env.int("LLM_TIMEOUT_SECONDS", 15, minimum=1)
LLM_ANSWER_SECONDS = env.int("LLM_ANSWER_SECONDS", 60, minimum=1)
# Asked for as max_tokens, and enforced on what arrives (a provider may ignore max_tokens).
LLM_MAX_TOKENS = env.int("LLM_MAX_TOKENS", 600, minimum=1)
LLM_MAX_ANSWER_CHARS = env.int("LLM_MAX_ANSWER_CHARS", 4000, minimum=1)
CELERY_BEAT_SCHEDULE["complete-idle-conversations"] = {
    "task": "apps.chat.tasks.complete_idle_conversations",
    "schedule": 300.0,
}

# --- Real time ---------------------------------------------------------------------------
# WebSockets (apps.realtime): /api/v1/ws/chat, /api/v1/ws/chat/{session_id}, /api/v1/ws/notifications.
# Seconds a notifications socket may stay open without authenticating (first message).
REALTIME_AUTH_TIMEOUT = env.int("REALTIME_AUTH_TIMEOUT", 5, minimum=1)
# Larger client frames are answered with a PAYLOAD_TOO_LARGE error frame.
REALTIME_MAX_FRAME_BYTES = env.int("REALTIME_MAX_FRAME_BYTES", 16 * 1024, minimum=256)
# Client frames per connection per sliding minute; more get a RATE_LIMIT_EXCEEDED error frame.
REALTIME_MESSAGES_PER_MINUTE = env.int("REALTIME_MESSAGES_PER_MINUTE", 30, minimum=1)
# Without client frames the server sends a ping after REALTIME_PING_SECONDS and closes the
# socket (code 4408) after REALTIME_IDLE_SECONDS.
REALTIME_IDLE_SECONDS = env.int("REALTIME_IDLE_SECONDS", 300, minimum=5)
REALTIME_PING_SECONDS = env.int("REALTIME_PING_SECONDS", 60, minimum=1)
# Open sockets re-check their credential (revoked keys, logged-out sessions) this often.
REALTIME_REAUTH_SECONDS = env.int("REALTIME_REAUTH_SECONDS", 300, minimum=5)
# Upper bound on pushing one event to the channel layer; an outage is logged, never raised.
REALTIME_PUBLISH_TIMEOUT = env.int("REALTIME_PUBLISH_TIMEOUT", 2, minimum=1)
REALTIME_MAX_SUBSCRIPTIONS = env.int("REALTIME_MAX_SUBSCRIPTIONS", 20, minimum=1)
# Who may follow investigation progress (subscribe_investigation on the seed 002 socket).
REALTIME_INVESTIGATION_PERMISSION = env.str("REALTIME_INVESTIGATION_PERMISSION", "analytics.view")
# The Redis channel layer: "pubsub" (channels_redis.pubsub) publishes a group message once
# and each process hands it to its own sockets, so one event reaches 1,000 sockets in tens of
# milliseconds (bench/realtime.py); "core" (channels_redis.core) queues a copy per process in
# Redis lists and pops them one at a time under a process-wide lock, several times slower.
REALTIME_CHANNEL_LAYER = env.choice("REALTIME_CHANNEL_LAYER", "pubsub", ("pubsub", "core"))
if REDIS_URL:
    CHANNEL_LAYERS["default"]["BACKEND"] = {
        "pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "core": "channels_redis.core.RedisChannelLayer",
    }[REALTIME_CHANNEL_LAYER]
    # redis-py 8 reads with a 5 s socket timeout by default, exactly the core layer's blocking
    # BZPOPMIN timeout, so its consumers die with "Timeout reading" every few seconds: read
    # longer than that. The default pool of 100 connections is too small for bursts of sockets
    # joining and leaving groups.
    CHANNEL_LAYERS["default"]["CONFIG"]["hosts"] = [
        {"address": REDIS_URL, "socket_timeout": 15, "socket_connect_timeout": 5, "max_connections": 500}
    ]

# --- Analytics ------------------------------------------------------------------------------
CELERY_BEAT_SCHEDULE["check-analytics-thresholds"] = {
    "task": "apps.analytics.tasks.check_thresholds",
    "schedule": 300.0,
}
CELERY_BEAT_SCHEDULE["refresh-analytics-rollups"] = {
    "task": "apps.analytics.tasks.refresh_rollups",
    "schedule": 300.0,
}

# --- E-mail (endpoint-disabled notices and the like) ------------------------------------
EMAIL_BACKEND = env.str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env.str("EMAIL_HOST", "localhost")
EMAIL_PORT = env.int("EMAIL_PORT", 25, minimum=1, maximum=65535)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", "CitizenAI <noreply@localhost>")

# --- Auth ------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "accounts:account"
LOGOUT_REDIRECT_URL = "home"

# Keyed hashing of API keys and tokens: a database dump alone cannot verify a credential.
CREDENTIAL_HASH_KEY = env.str(
    "CREDENTIAL_HASH_KEY",
    hashlib.sha256(f"citizenai-credentials:{SECRET_KEY}".encode()).hexdigest(),
)
ACCESS_TOKEN_TTL = env.int("ACCESS_TOKEN_TTL", 3600, minimum=60)
REFRESH_TOKEN_TTL = env.int("REFRESH_TOKEN_TTL", 14 * 86400, minimum=300)
REMEMBER_ME_TTL = env.int("REMEMBER_ME_TTL", 30 * 86400, minimum=300)
LOGIN_LOCKOUT_THRESHOLD = env.int("LOGIN_LOCKOUT_THRESHOLD", 5, minimum=1)
LOGIN_LOCKOUT_SECONDS = env.int("LOGIN_LOCKOUT_SECONDS", 900, minimum=1)
API_KEY_LAST_USED_RESOLUTION = env.int("API_KEY_LAST_USED_RESOLUTION", 60, minimum=0)
CREDENTIAL_CACHE_SECONDS = env.int("CREDENTIAL_CACHE_SECONDS", 60, minimum=0)
KNOWLEDGE_SEARCH_CACHE_SECONDS = env.int("KNOWLEDGE_SEARCH_CACHE_SECONDS", 600, minimum=0)

SESSION_COOKIE_AGE = REFRESH_TOKEN_TTL
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_FAILURE_VIEW = "apps.core.views.csrf_failure"

# --- API -------------------------------------------------------------------------------
API_VERSION = "v1"
API_MAX_JSON_BYTES = env.int("API_MAX_JSON_BYTES", 1024 * 1024, minimum=1024)
API_MAX_UPLOAD_BYTES = env.int("API_MAX_UPLOAD_BYTES", 50 * 1024 * 1024, minimum=1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = API_MAX_JSON_BYTES
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
IDEMPOTENCY_KEY_TTL = env.int("IDEMPOTENCY_KEY_TTL", 86400, minimum=60)
ATTACHMENT_MAX_BYTES = env.int("ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024, minimum=1024)

RATE_LIMIT_ENABLED = env.bool("RATE_LIMIT_ENABLED", True)
RATE_LIMITS_PER_MINUTE = {
    "anonymous": env.int("RATE_LIMIT_ANONYMOUS", 30, minimum=1),
    "standard": env.int("RATE_LIMIT_STANDARD", 100, minimum=1),
    "premium": env.int("RATE_LIMIT_PREMIUM", 500, minimum=1),
    "enterprise": env.int("RATE_LIMIT_ENTERPRISE", 2000, minimum=1),
    "login": env.int("RATE_LIMIT_LOGIN", 10, minimum=1),
}
# How often a process adds the requests it counted to the shared totals (0: every request at
# once, exactly). Between syncs processes can run ahead of a budget by limit/64 requests each
# at most (apps/core/shared_counts.py); sign-in attempts are always counted at once.
RATE_LIMIT_SYNC_MS = env.int("RATE_LIMIT_SYNC_MS", 250, minimum=0)
# Number of reverse proxies in front of the app whose X-Forwarded-For entries are trusted.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", 0, minimum=0)
OPEN311_JURISDICTION_ID = env.str("OPEN311_JURISDICTION_ID", "citizenai.local")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.accounts.authentication.BearerAuthentication",
        "apps.accounts.authentication.CsrfSessionAuthentication",
    ],
    # Views must say who may call them; this default only matters if one forgets.
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": ["apps.core.ratelimit.TierRateThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["apps.core.renderers.EnvelopeRenderer"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "apps.core.negotiation.FastContentNegotiation",
    "DEFAULT_PARSER_CLASSES": [
        "apps.core.parsers.EnvelopeJSONParser",
        "apps.core.parsers.LimitedFormParser",
        "apps.core.parsers.LimitedMultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "apps.core.pagination.EnvelopePagination",
    "DEFAULT_FILTER_BACKENDS": ["apps.core.filters.StrictFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "apps.core.exceptions.api_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "DATETIME_FORMAT": "iso-8601",
    "COERCE_DECIMAL_TO_STRING": False,
    "PAGE_SIZE": 20,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "CitizenAI API",
    "DESCRIPTION": (
        "Citizen engagement platform: concerns, AI chat assistant, analytics, webhooks. "
        "Every response uses the envelope `{success, data, metadata}`; errors use "
        "`{success: false, error: {code, message, details}, metadata}`."
    ),
    "VERSION": APP_VERSION,
    "SERVE_INCLUDE_SCHEMA": False,
    # The Swagger UI's files from the drf-spectacular-sidecar package (collected into static/):
    # by default the page loads them from a CDN, which an offline deployment cannot reach.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "TierEnum": "apps.accounts.roles.Tier",
        "RoleEnum": "apps.accounts.roles.Role",
        "ConcernStatusEnum": "apps.concerns.models.Status",
        "PriorityEnum": "apps.concerns.models.Priority",
        "DeliveryStatusEnum": "apps.webhooks.models.DeliveryStatus",
        "ConversationStatusEnum": "apps.chat.models.ConversationStatus",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "apps.core.schema.wrap_in_envelope",
    ],
    "APPEND_COMPONENTS": {
        "securitySchemes": {
            "bearerAuth": {
                "type": "http",
                "scheme": "bearer",
                "description": "An API key (`cai_...`) or an access token (`cat_...`).",
            }
        }
    },
    "SECURITY": [{"bearerAuth": []}],
    "AUTHENTICATION_WHITELIST": [],
}

# --- Internationalisation, static and media ---------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env.str("STATIC_ROOT", str(VAR_DIR / "staticfiles")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", str(VAR_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

# --- Logging: JSON lines carrying the request id ---------------------------------------
LOG_LEVEL = env.choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"))
LOG_FORMAT = env.choice("LOG_FORMAT", "json", ("json", "text"))
LOG_TRACEBACKS = env.bool("LOG_TRACEBACKS", False)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "apps.core.logging.RequestIdFilter"}},
    "formatters": {
        "json": {"()": "apps.core.logging.JsonFormatter"},
        "text": {"format": "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Our own access log replaces these; their lines would duplicate it without ids.
        "django.request": {"level": "CRITICAL", "propagate": True},
        "django.server": {"level": "WARNING", "propagate": True},
        "daphne.access": {"level": "WARNING", "propagate": True},
    },
}
