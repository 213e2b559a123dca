"""Parley settings: everything comes from the environment, with safe local defaults.

Set DJANGO_DEBUG=false, DJANGO_SECRET_KEY and DJANGO_ALLOWED_HOSTS in production;
DATABASE_URL switches to PostgreSQL, REDIS_URL to the Redis channel layer.
"""

import os
import tempfile
from datetime import timedelta
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from chatsite.environment import envbool, envdecimal, envfloat, envint, envlist

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = envbool("DJANGO_DEBUG", True)
# The secret key: DJANGO_SECRET_KEY, else the file `make run` generates once
# (readable by its owner only, see chatsite/secret_key.py), else in DEBUG a fixed
# development key.
SECRET_KEY_FILE = Path(os.environ.get("PARLEY_SECRET_KEY_FILE") or BASE_DIR / ".secret_key")
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY and SECRET_KEY_FILE.is_file():
    SECRET_KEY = SECRET_KEY_FILE.read_text(encoding="utf-8").strip()
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is false "
            f"(or run `python -m chatsite.secret_key` to write one to {SECRET_KEY_FILE})"
        )
    SECRET_KEY = "django-insecure-local-development-key-do-not-use-in-production"

ALLOWED_HOSTS = envlist("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = envlist("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "channels",
    "django_htmx",
    "axes",
    "accounts",
    "conversations",
    "api",
]

MIDDLEWARE = [
    # First: nothing may read X-Forwarded-Proto before untrusted copies are dropped.
    "chatsite.proxy.TrustedProxyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The language: the user's choice (cookie), else the browser's Accept-Language.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: answers a locked-out login attempt.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "chatsite.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "OPTIONS": {
            # The project's templates lose their indentation when loaded (frames
            # are smaller); apps' templates (the admin's) are loaded as they are.
            "loaders": [
                (
                    "django.template.loaders.cached.Loader",
                    [
                        "chatsite.template_loaders.TrimmedLoader",
                        "django.template.loaders.app_directories.Loader",
                    ],
                )
            ],
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.csp",
                "accounts.context_processors.preferences",
            ],
        },
    },
]

ASGI_APPLICATION = "chatsite.asgi.application"

# Databases: SQLite by default (WAL, busy timeout), PostgreSQL by DATABASE_URL.
if os.environ.get("DATABASE_URL"):
    import dj_database_url

    DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"])}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("SQLITE_PATH", str(BASE_DIR / "db.sqlite3")),
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
            # The live-server tests fork a server process, which cannot share an
            # in-memory database: give the test database a file, one per test run.
            "TEST": {
                "NAME": os.path.join(tempfile.gettempdir(), f"parley-test-{os.getpid()}.sqlite3")
            },
        }
    }

# --- Database connections (issue 17: bounded per worker) -------------------
# PostgreSQL: each worker process borrows connections from one pool of at most
# DATABASE_POOL_SIZE (psycopg-pool, through Django's OPTIONS["pool"]) for the
# length of one database call or one HTTP request, and gives them back. Without
# it, every thread kept its own connection (sockets' queries run on a pool of
# threads, see generation.database_call; each HTTP request has its own thread),
# and a few busy workers exhausted PostgreSQL's max_connections (100 by
# default): "too many clients already", as 500 pages. N workers hold at most
# N x DATABASE_POOL_SIZE connections: keep that within half of max_connections
# (chatsite.serve warns otherwise), the rest being for admins, migrations and
# other clients. A call that waits DATABASE_POOL_TIMEOUT seconds for a free
# connection fails with a clear "busy, try again" (chatsite/errors.py), never a
# 500 page. A pool needs CONN_MAX_AGE = 0 (Django refuses anything else): a
# connection goes back to the pool when Django would have closed it.
# DATABASE_POOL_SIZE=0 turns the pool off (one connection per thread, kept
# DATABASE_CONN_MAX_AGE seconds), e.g. behind PgBouncer in transaction mode.
# SQLite has no pool: a connection per thread, kept open (on SQLite a new one
# re-runs the PRAGMAs).
DATABASE_POOL_SIZE = envint("DATABASE_POOL_SIZE", 10)
DATABASE_POOL_SHARE = 0.5  # of the server's max_connections, for all workers together
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and DATABASE_POOL_SIZE > 0:
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        # Opened in the background when the worker first needs the database.
        "min_size": min(envint("DATABASE_POOL_MIN_SIZE", 2), DATABASE_POOL_SIZE),
        "max_size": DATABASE_POOL_SIZE,
        "timeout": envfloat("DATABASE_POOL_TIMEOUT", 10.0),
        # Connections above min_size that stay unused this long are closed.
        "max_idle": 300,
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
else:
    DATABASES["default"]["CONN_MAX_AGE"] = envint("DATABASE_CONN_MAX_AGE", 600)
# With the pool: a connection is checked (an empty query) when it is borrowed,
# so that one the server dropped while it sat idle is replaced, not an error.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# --- end of database connections --------------------------------------------

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Channel layer: in-memory for one process, Redis when REDIS_URL is set.
if os.environ.get("REDIS_URL"):
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # redis-py 8 reads with a 5 s socket timeout by default, the same
                # as channels-redis's blocking pop: every idle receive then fails
                # with "Timeout reading" and closes the socket (1011). Read longer.
                # It also caps a pool at 100 connections, which a hundred busy
                # sockets and their replies exceed.
                "hosts": [
                    {
                        "address": os.environ["REDIS_URL"],
                        "socket_timeout": 30,
                        "max_connections": envint("REDIS_MAX_CONNECTIONS", 2000),
                    }
                ],
                # All sockets of one worker share one Redis queue, and group_send
                # silently drops what goes past its capacity: size it for every
                # frame of every reply a worker may be streaming at once.
                "capacity": envint("CHANNEL_LAYER_CAPACITY", 100_000),
                "expiry": 60,
            },
        }
    }
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels.layers.InMemoryChannelLayer",
            "CONFIG": {"capacity": envint("CHANNEL_LAYER_CAPACITY", 1000)},
        }
    }

# Shared by every worker when REDIS_URL is set (the sign-up throttle counts there).
if os.environ.get("REDIS_URL"):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": os.environ["REDIS_URL"],
            "KEY_PREFIX": "parley",
        }
    }
else:
    # One process (the in-memory channel layer serves only one): its own memory.
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Login throttling (django-axes): after PARLEY_LOGIN_FAILURES wrong passwords for
# one username from one address, that pair is locked out for the cool-off time,
# even with the right password. Sign-ups are throttled per address (django-ratelimit).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = envint("PARLEY_LOGIN_FAILURES", 5)
AXES_COOLOFF_TIME = timedelta(minutes=envint("PARLEY_LOGIN_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False
PARLEY_SIGNUP_RATE = os.environ.get("PARLEY_SIGNUP_RATE", "10/h")
# Imports per user (each one bounded in size, conversations and messages).
PARLEY_IMPORT_RATE = os.environ.get("PARLEY_IMPORT_RATE", "20/h")

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "conversations:home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
LANGUAGES = [("en", "English"), ("ko", "한국어")]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# In production `collectstatic` fills STATIC_ROOT and WhiteNoise serves it; in
# development WhiteNoise finds the files where they are.
STATIC_ROOT = os.environ.get("STATIC_ROOT") or (None if DEBUG else BASE_DIR / "staticfiles")
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# Security. A strict CSP on every page: own-origin scripts only (no inline
# script), images from our origin and data:, connections to our origin only.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "font-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
}
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# X-Forwarded-Proto says a request came over HTTPS only from these proxies
# (addresses or networks); chatsite.proxy drops it from anyone else.
PARLEY_TRUSTED_PROXIES = envlist("PARLEY_TRUSTED_PROXIES", [])
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Served over HTTPS (directly or behind a TLS proxy): Secure cookies, HSTS and a
# redirect of plain http. Off by default so that `make run` works over plain
# http on localhost and on a LAN address.
PARLEY_HTTPS = envbool("PARLEY_HTTPS", False)
if PARLEY_HTTPS:
    SECURE_SSL_REDIRECT = envbool("DJANGO_SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = envint("DJANGO_SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = envbool("DJANGO_SECURE_HSTS_PRELOAD", False)
    if not SECURE_HSTS_PRELOAD:
        # Preloading is a commitment for the whole domain, so it is opt-in
        # (DJANGO_SECURE_HSTS_PRELOAD=true), not a warning on every deploy check.
        SILENCED_SYSTEM_CHECKS = ["security.W021"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    # Warnings and errors of every library (Daphne, Channels, Django) reach the console.
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "parley": {
            "handlers": ["console"],
            "level": os.environ.get("PARLEY_LOG_LEVEL", "INFO"),
            "propagate": False,
        },
    },
}

# Parley itself.
PARLEY_MODELS_FILE = os.environ.get("PARLEY_MODELS_FILE", str(BASE_DIR / "models.toml"))
# Largest message a user may send, in characters (checked before any work).
PARLEY_MAX_MESSAGE_CHARS = envint("PARLEY_MAX_MESSAGE_CHARS", 32_000)
# How often partial answers are written to the database while streaming.
PARLEY_CHECKPOINT_SECONDS = envfloat("PARLEY_CHECKPOINT_SECONDS", 1.0)
# A reply whose first token has not come by then (retries included) is an error.
PARLEY_FIRST_TOKEN_TIMEOUT = envfloat("PARLEY_FIRST_TOKEN_TIMEOUT", 60.0)
# How long tokens are gathered into one websocket frame.
PARLEY_FRAME_SECONDS = envfloat("PARLEY_FRAME_SECONDS", 0.1)
# Site-wide limits per user (0: none); an admin can set each user's own.
PARLEY_LIMIT_MESSAGES_PER_MINUTE = envint("PARLEY_LIMIT_MESSAGES_PER_MINUTE", 20)
PARLEY_LIMIT_TOKENS_PER_DAY = envint("PARLEY_LIMIT_TOKENS_PER_DAY", 0)
PARLEY_LIMIT_COST_PER_MONTH = envdecimal("PARLEY_LIMIT_COST_PER_MONTH", "0")
# After a conversation's first answer, a model names it in a few words: this
# model id from the catalog, or (empty) the conversation's own model.
PARLEY_TITLES = envbool("PARLEY_TITLES", True)
PARLEY_TITLE_MODEL = os.environ.get("PARLEY_TITLE_MODEL", "")
# The model that summarises messages beyond the window (memory): a catalog id,
# or empty for the conversation's own model.
PARLEY_SUMMARY_MODEL = os.environ.get("PARLEY_SUMMARY_MODEL", "")
# Whether a shared conversation's page needs a signed-in reader (default: public).
PARLEY_SHARE_REQUIRES_LOGIN = envbool("PARLEY_SHARE_REQUIRES_LOGIN", False)
# Open conversation sockets one user may hold in one worker process.
PARLEY_MAX_SOCKETS_PER_USER = envint("PARLEY_MAX_SOCKETS_PER_USER", 20)
# When the server starts: load local models, and mark answers left half-written
# by a dead process as interrupted (tests/conftest.py switches this off).
PARLEY_STARTUP_TASKS = envbool("PARLEY_STARTUP_TASKS", True)
# The OpenAI-compatible API (/v1). No CORS unless origins are listed, e.g.
# "https://tools.example.com"; failed key attempts per client address and minute.
PARLEY_API_CORS_ORIGINS = envlist("PARLEY_API_CORS_ORIGINS", [])
PARLEY_API_FAILED_KEYS_PER_MINUTE = envint("PARLEY_API_FAILED_KEYS_PER_MINUTE", 10)

# Comparisons: a model is ranked on the leaderboard from this many votes on;
# one account casts at most this many votes a day (0: no cap).
PARLEY_LEADERBOARD_MIN_VOTES = envint("PARLEY_LEADERBOARD_MIN_VOTES", 20)
PARLEY_VOTES_PER_DAY = envint("PARLEY_VOTES_PER_DAY", 50)
# Seconds a computed leaderboard is reused (a new vote recomputes it at once).
PARLEY_LEADERBOARD_CACHE_SECONDS = envint("PARLEY_LEADERBOARD_CACHE_SECONDS", 600)
