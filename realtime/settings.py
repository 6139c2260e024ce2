"""Settings, read from the environment (12-factor); every name is documented in README.md."""

from __future__ import annotations

import ipaddress
import warnings
from datetime import timedelta
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DJANGO_DEBUG", default=False)
_DEV_SECRET = "dev-only-insecure-key-never-use-in-production-0123456789abcdef"
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY must be set when DJANGO_DEBUG=0 (there is no production default)."
        )
    SECRET_KEY = _DEV_SECRET

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",  # makes daphne's runserver available; `manage.py serve` is the real entry point
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "rest_framework_simplejwt",
    "rest_framework_simplejwt.token_blacklist",  # rotated and logged-out refresh tokens
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "realtime.registry",
    "realtime",
    "accounts",
    "chat",
    "notifications",
    "integrations",
    "bench",
]

MIDDLEWARE = [
    "realtime.web.health.ProbeMiddleware",  # before anything reads the Host header
    "realtime.web.http.RequestContextMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "realtime.web.http.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.throttling.LoginThrottleMiddleware",  # a refused sign-in page is a 429
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "realtime.urls"
ASGI_APPLICATION = "realtime.asgi.application"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"

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
            ],
        },
    },
]

# --- database: SQLite file by default, DATABASE_URL for PostgreSQL -------------------
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # psycopg 3's pool: sockets do many short queries from one thread per process.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # A pooled connection that died with the server (restart, failover) is replaced at
    # checkout instead of failing the next socket frame.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("DB_POOL_MIN_SIZE", default=2),
        "max_size": env.int("DB_POOL_MAX_SIZE", default=20),
        "timeout": env.float("DB_POOL_TIMEOUT", default=10.0),
    }
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            # WAL lets readers run beside the one writer; IMMEDIATE takes the write lock
            # at BEGIN, so concurrent writers queue instead of failing on upgrade.
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    # Keep connections: socket work hops into Django's sync thread for every query, and
    # the default (close after each use) reopened SQLite with its PRAGMAs every time,
    # a fifth of a handshake's CPU. Health checks reopen one that broke.
    DATABASES["default"]["CONN_MAX_AGE"] = None
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- channel layer: in-memory for one process, Redis for a cluster -------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    # Pub/sub, not the core (list-based) layer: the hub sends one group message per
    # process per event batch, and pub/sub relays those about 7x faster across processes
    # (docs/cluster.md has the figure and the command). Its fire-and-forget delivery costs
    # nothing here: the database is the source of truth and clients backfill by seq.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            # The prefix keeps clusters that share one Redis apart (and test runs too).
            "CONFIG": {
                "hosts": [REDIS_URL],
                "prefix": env.str("CHANNEL_LAYER_PREFIX", default="realtime"),
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- auth ------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"
    },
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_HASHERS = env.list(
    "PASSWORD_HASHERS",
    default=[
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    ],
)

# Failed sign-ins counted per client IP and, apart, per username, on every sign-in path
# (/login/, /admin/login/, /api/auth/token/): past the rate, 429 before the password
# hasher runs. The first backend only refuses; ModelBackend checks the password.
LOGIN_THROTTLE = env.str("LOGIN_THROTTLE", default="10/min")
AUTHENTICATION_BACKENDS = [
    "accounts.backends.LoginThrottleBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# REST writes per user (messages, rooms, members, notification sends): 429 past it.
API_WRITE_THROTTLE = env.str("API_WRITE_THROTTLE", default="60/min")
# The throttles' counters: Redis when there is a cluster (every process counts together),
# else this process's memory. Timeouts keep a frozen Redis from stalling a sign-in; while
# Redis fails, accounts.throttling counts in process memory instead.
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CHANNEL_LAYER_PREFIX", default="realtime"),
            "OPTIONS": {"socket_connect_timeout": 1.0, "socket_timeout": 1.0},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

API_AUTH_THROTTLE = env.str("API_AUTH_THROTTLE", default="20/min")
# --- the server API and webhooks (PROTOCOL.md section 11) ----------------------------------
# Server API requests per API key (publish, notify, disconnect together); empty: off.
API_SERVER_THROTTLE = env.str("API_SERVER_THROTTLE", default="600/min")
# Webhook URLs that resolve to loopback, private, link-local or reserved addresses are
# refused at creation and at every delivery (SSRF), unless this is 1.
WEBHOOK_ALLOW_PRIVATE = env.bool("WEBHOOK_ALLOW_PRIVATE", default=False)
# One delivery's whole HTTP exchange (resolve, connect, send, status line), in seconds.
WEBHOOK_TIMEOUT = env.float("WEBHOOK_TIMEOUT", default=5.0)
# Deliveries in flight at once per serving process; the rest wait in the outbox.
WEBHOOK_MAX_IN_FLIGHT = env.int("WEBHOOK_MAX_IN_FLIGHT", default=10)
# The first retry's delay in seconds; each next one doubles it, up to an hour.
WEBHOOK_BACKOFF_SECONDS = env.float("WEBHOOK_BACKOFF_SECONDS", default=5.0)
# How long an event is retried before its delivery is given up as failed (a day).
WEBHOOK_RETRY_SECONDS = env.float("WEBHOOK_RETRY_SECONDS", default=86400.0)
# How often each serving process looks for due deliveries (also woken by its own events).
WEBHOOK_POLL_SECONDS = env.float("WEBHOOK_POLL_SECONDS", default=1.0)
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # simplejwt's, refusing tokens issued before the user's last credential change
        "accounts.tokens.JWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON only: every /api/ answer is JSON, whatever the Accept header asks for.
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "realtime.web.http.JsonOnlyNegotiation",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "realtime.web.http.api_exception_handler",
    "DEFAULT_THROTTLE_RATES": {"auth": API_AUTH_THROTTLE or None},
    # The client is REMOTE_ADDR, never a client-set X-Forwarded-For: `manage.py serve`
    # resolves forwarded addresses against TRUSTED_PROXIES before Django sees them.
    "NUM_PROXIES": 0,
}
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(
        seconds=env.int("JWT_ACCESS_LIFETIME_SECONDS", default=900)
    ),
    "REFRESH_TOKEN_LIFETIME": timedelta(
        seconds=env.int("JWT_REFRESH_LIFETIME_SECONDS", default=7 * 24 * 3600)
    ),
    "ALGORITHM": "HS256",
    "UPDATE_LAST_LOGIN": False,
    # A refresh answers a new refresh token too; the one used is blacklisted (reusing
    # it is a 401), so a stolen refresh token dies at the owner's next refresh.
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Realtime API",
    "DESCRIPTION": (
        "Chat rooms and notifications. The whole contract, sockets included, is "
        "docs/protocol.md in the repository; the sockets are described "
        "machine-readably at /api/asyncapi.json (AsyncAPI 3). "
        "Bodies are JSON objects, typed as strictly as socket frames: a value of "
        "another JSON type or a property an operation does not take is a 400. No "
        "string may hold a NUL character."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Relative: the server that serves this document (clients set their base URL).
    "SERVERS": [{"url": "/", "description": "this server"}],
    # Request and response components apart: read-only fields are no input, and a
    # field that refuses blanks says so (minLength).
    "COMPONENT_SPLIT_REQUEST": True,
    # The documented bodies are JSON, where types are strict (forms hold only strings).
    "PARSER_WHITELIST": ["rest_framework.parsers.JSONParser"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "realtime.web.rest.declare_common_errors",
    ],
    # the docs page's assets come from the app itself: browsers here reach no CDN
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # No badge from validator.swagger.io: it would send the schema's URL to a third
    # party, and the page's CSP loads images from the site only.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "REDOC_DIST": "SIDECAR",
}

# --- socket limits (PROTOCOL.md section 1) ---------------------------------------------
WS_MAX_FRAME_BYTES = env.int("WS_MAX_FRAME_BYTES", default=64 * 1024)
WS_MAX_BODY_CHARS = env.int("WS_MAX_BODY_CHARS", default=4000)
WS_MAX_CONNECTIONS = env.int("WS_MAX_CONNECTIONS", default=20000)
WS_MAX_CONNECTIONS_PER_USER = env.int("WS_MAX_CONNECTIONS_PER_USER", default=20)
WS_HANDSHAKE_RATE = env.float("WS_HANDSHAKE_RATE", default=50.0)
WS_MESSAGE_RATE = env.float("WS_MESSAGE_RATE", default=10.0)
WS_MESSAGE_BURST = env.int("WS_MESSAGE_BURST", default=30)
WS_HEARTBEAT_INTERVAL = env.float("WS_HEARTBEAT_INTERVAL", default=25.0)
WS_PRESENCE_INTERVAL = env.float("WS_PRESENCE_INTERVAL", default=1.0)
WS_MAX_INVALID_FRAMES = env.int("WS_MAX_INVALID_FRAMES", default=20)
WS_RATE_ABUSE_LIMIT = env.int("WS_RATE_ABUSE_LIMIT", default=20)
WS_MAX_OUTBOUND_BACKLOG = env.int("WS_MAX_OUTBOUND_BACKLOG", default=1000)
# Bytes queued for one socket whose peer does not keep up: frames waiting in its outbox
# plus what its transport holds that the kernel has not taken (pongs included); past it
# the socket closes 4503 (PROTOCOL.md section 8).
WS_MAX_OUTBOUND_BYTES = env.int("WS_MAX_OUTBOUND_BYTES", default=1024 * 1024)
# Open sockets without credentials (/ws/echo/) from one client IP, per process; more are
# refused with HTTP 403 before accept. 0 turns the cap off.
WS_MAX_ANON_CONNECTIONS_PER_IP = env.int("WS_MAX_ANON_CONNECTIONS_PER_IP", default=50)
# A test and debug setting: every frame a JSON socket sends is checked against its
# route's outbound schemas; one that breaks them is logged ("frame breaks its schema"),
# counted, and its socket closed 1011. Off in production: it costs a parse per frame.
WS_CHECK_FRAMES = env.bool("WS_CHECK_FRAMES", default=False)
WS_PROCESS_LEASE_SECONDS = env.float("WS_PROCESS_LEASE_SECONDS", default=30.0)
DRAIN_TIMEOUT = env.float("DRAIN_TIMEOUT", default=10.0)
# After its sockets are closed a draining process keeps answering (503) this long, so
# load balancers see it leave before its port closes.
DRAIN_LINGER_SECONDS = env.float("DRAIN_LINGER_SECONDS", default=1.0)
# Transport guards of `manage.py serve` (realtime/ws/server.py): a connection must send a
# complete request head within HTTP_HEADER_TIMEOUT seconds (slowloris, bare connects) and
# in at most HTTP_MAX_HEADER_BYTES (else 431); a socket closed while its peer does not
# read is dropped WS_CLOSE_GRACE seconds after its close frame is queued.
HTTP_HEADER_TIMEOUT = env.float("HTTP_HEADER_TIMEOUT", default=10.0)
HTTP_MAX_HEADER_BYTES = env.int("HTTP_MAX_HEADER_BYTES", default=64 * 1024)
WS_CLOSE_GRACE = env.float("WS_CLOSE_GRACE", default=2.0)
# Reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are believed (addresses or
# CIDRs, PROTOCOL.md section 8). `manage.py serve` resolves the client address and scheme
# against this list once, in the server, so every per-IP limit, throttle and log line sees
# the same client; empty (the default): the peer address is the client.
TRUSTED_PROXIES = [
    str(ipaddress.ip_network(c.strip(), strict=False))
    for c in env.list("TRUSTED_PROXIES", default=[])
    if c.strip()
]
METRICS_ALLOWED_CIDRS = [
    ipaddress.ip_network(c.strip(), strict=False)
    for c in env.list(
        "METRICS_ALLOWED_CIDRS",
        default=[
            "127.0.0.0/8",
            "::1/128",
            "10.0.0.0/8",
            "172.16.0.0/12",
            "192.168.0.0/16",
            "fc00::/7",
        ],
    )
]

# --- static files ------------------------------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = (
    True  # serve from the app folders too: no collectstatic needed to run
)
# Without collectstatic (make run, tests) STATIC_ROOT is absent; the finders serve instead.
warnings.filterwarnings("ignore", message="No directory at", module="whitenoise.base")

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- logging: JSON lines in production, readable text in `make run` ------------------------
LOG_FORMAT = env.str("LOG_FORMAT", default="text" if DEBUG else "json")
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "context": {"()": "realtime.web.logs.ContextFilter"},
        "redact": {"()": "realtime.web.logs.RedactFilter"},
        "server_chatter": {"()": "realtime.web.logs.ServerChatterFilter"},
    },
    "formatters": {
        "json": {"()": "realtime.web.logs.JsonFormatter"},
        "text": {"()": "realtime.web.logs.TextFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["redact", "context"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"level": LOG_LEVEL},
        "uvicorn": {"handlers": [], "propagate": True},
        "uvicorn.error": {
            "handlers": [],
            "propagate": True,
            "filters": ["server_chatter"],
        },
        "uvicorn.access": {"handlers": [], "propagate": False},  # realtime.access logs
        "daphne": {"level": "INFO"},
    },
}

# --- HTTPS (PROTOCOL.md section 8) --------------------------------------------------------
# DJANGO_SECURE=1, the default with debug off: the site is HTTPS only. Cookies are Secure,
# HSTS is sent, and plain http is redirected. The scheme is the one `manage.py serve`
# resolved (X-Forwarded-Proto believed from TRUSTED_PROXIES only), so there is no
# SECURE_PROXY_SSL_HEADER here: Django would believe that header from anyone.
# DJANGO_SECURE=0 serves plain http with debug off (a private network, local tests).
SECURE = env.bool("DJANGO_SECURE", default=not DEBUG)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=SECURE)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=SECURE)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=SECURE)
# Kubernetes probes and Prometheus reach the pod itself over http. ProbeMiddleware answers
# these before SecurityMiddleware; the exemption keeps them plain-http if that changes.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
# A year, the usual figure (and the preload list's minimum); sent on https answers only.
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if SECURE else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool(
    "SECURE_HSTS_INCLUDE_SUBDOMAINS", default=SECURE
)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
# DRF's JSON parser, with JSON nested too deep a 400 (the json module overflows the stack).
# JSON bodies only (a form is a 415): typed like socket frames, nothing to coerce.
REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"] = ["realtime.web.http.JsonParser"]
REST_FRAMEWORK["TEST_REQUEST_DEFAULT_FORMAT"] = "json"
if not SECURE_HSTS_PRELOAD:
    # Preloading binds every subdomain of the registrable domain into browsers for
    # months: the domain owner's decision (SECURE_HSTS_PRELOAD=1), not a default.
    SILENCED_SYSTEM_CHECKS = ["security.W021"]
