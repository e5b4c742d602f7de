"""Coucou's settings: everything that varies between machines comes from the environment."""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


DEV_SECRET_KEY = "dev-insecure-coucou-secret-key-change-me"  # noqa: S105
SECRET_KEY = os.environ.get("SECRET_KEY", DEV_SECRET_KEY)
DEBUG = env_bool("DEBUG", default=True)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

_LOCAL_HOSTS = {"localhost", "127.0.0.1", "[::1]", ".localhost"}
if not DEBUG and SECRET_KEY == DEV_SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY must be set in production (DEBUG is off).")
if DEBUG and (set(ALLOWED_HOSTS) - _LOCAL_HOSTS) and not env_bool("COUCOU_ALLOW_PUBLIC_DEBUG", False):
    raise ImproperlyConfigured(
        "DEBUG is on with a public host in ALLOWED_HOSTS; set DEBUG=0 (and SECRET_KEY) to serve it."
    )

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "ninja",
    "realtime",
    "jobs",
    "api",
    "demo",
    "teams",
    "chat",
    "liveblog",
]

MIDDLEWARE = [
    "config.metrics.RequestMetrics",  # outermost: it counts the status the client gets
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
# Threads that run HTTP requests in each web process (config/asgi.py); sockets do not use them.
HTTP_THREADS = env_int("HTTP_THREADS", 10)

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
            ],
        },
    },
]

# Connections are kept for a minute (web: one per HTTP pool thread, config/asgi.py; worker:
# one per pool process). Opening and closing one per task cost a SQLite worker 3.8 ms of the
# 6.5 ms a coucou job took (closing the last connection checkpoints the WAL). A kept
# connection is checked before its first use in each request or task, so a database
# restart costs no request and no job.
DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / '.data' / 'db.sqlite3'}", conn_max_age=60, conn_health_checks=True
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web and worker processes write the same file: WAL lets readers and one writer work at
    # once, IMMEDIATE transactions take the write lock up front (no upgrade deadlock), and the
    # timeout makes a writer wait for the lock instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / ".data" / "static"
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

if not DEBUG:
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
    CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Request bodies: the API answers 413 past this size.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("API_MAX_BODY_BYTES", 64 * 1024)

# --- Redis roles: the Celery broker, and the realtime Redis --------------------------------
# One Redis serves both by default. REALTIME_REDIS_URL holds everything realtime: the event
# streams and seq counters, tickets, throttles, job heartbeats and cancel flags, the channel
# layer and Django's cache. CELERY_BROKER_URL may be another Redis, a Sentinel group or
# RabbitMQ (platform/SCALING.md).
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
REALTIME_REDIS_URL = os.environ.get("REALTIME_REDIS_URL", REDIS_URL)


def env_hostports(name: str) -> list[tuple[str, int]]:
    """``host:port,host:port`` as [(host, port), ...]."""
    pairs = [item.rpartition(":") for item in env_list(name)]
    if any(not host or not port.isdigit() for host, _, port in pairs):
        raise ImproperlyConfigured(f"{name} must be host:port[,host:port...], got {os.environ[name]!r}")
    return [(host, int(port)) for host, _, port in pairs]


# With Sentinels, the realtime Redis is the master they name; REALTIME_REDIS_URL then gives
# only its database number and password (its host and port are not used).
REALTIME_REDIS_SENTINELS = env_hostports("REALTIME_REDIS_SENTINELS")
REALTIME_REDIS_SENTINEL_MASTER = os.environ.get("REALTIME_REDIS_SENTINEL_MASTER", "")
if bool(REALTIME_REDIS_SENTINELS) != bool(REALTIME_REDIS_SENTINEL_MASTER):
    raise ImproperlyConfigured("REALTIME_REDIS_SENTINELS and REALTIME_REDIS_SENTINEL_MASTER go together.")


def _layer_host() -> str | dict[str, object]:
    if not REALTIME_REDIS_SENTINELS:
        return REALTIME_REDIS_URL
    from redis.connection import parse_url

    parsed = parse_url(REALTIME_REDIS_URL)  # type: ignore[no-untyped-call]
    url = {k: v for k, v in parsed.items() if k in {"db", "username", "password"}}
    return {
        "master_name": REALTIME_REDIS_SENTINEL_MASTER,
        "sentinels": REALTIME_REDIS_SENTINELS,
        "sentinel_kwargs": {"socket_timeout": 1, "socket_connect_timeout": 1},
        **url,
    }


CHANNEL_LAYERS = {
    "default": {
        # The pub/sub layer: several times the throughput of the core layer, and its group
        # membership is re-subscribed by redis-py after a Redis restart. Delivery is made
        # lossless above it by the per-user event stream (realtime/stream.py), whose Lua
        # script publishes on the layer's wire: the realtime app refuses at start-up any
        # layer it cannot publish to (realtime/topology.py).
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [_layer_host()], "prefix": "coucou"},
    }
}

# Django's cache, for apps that use one (Coucou's throttle talks to Redis itself).
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REALTIME_REDIS_URL,
        # One pool per process: without it every request that uses the cache opens a
        # connection. With Sentinels it is a pool on the master they name.
        "OPTIONS": {
            "socket_connect_timeout": 1,
            "socket_timeout": 1,
            "pool_class": "realtime.redis.SharedConnectionPool",
        },
    }
}

# --- Celery ------------------------------------------------------------------------------
# redis://, rediss://, sentinel://h:p;sentinel://h:p (with CELERY_BROKER_SENTINEL_MASTER) or
# amqp:// (RabbitMQ).
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", REDIS_URL)
_BROKER_SCHEME = CELERY_BROKER_URL.partition("://")[0].rpartition("+")[2].lower()
# Several deployments may share one broker, each on its own queue.
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_TASK_DEFAULT_QUEUE", "celery")
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]  # pickle from a broker is code execution
CELERY_TASK_IGNORE_RESULT = True  # the Job row is the truth, not a result backend
# No result backend is used, but Celery builds its (disabled) one per thread unless told it
# is thread-safe, scanning every package's entry points each time: a third of a POST's time
# when each request had a thread of its own (bench/RESULTS.md).
CELERY_RESULT_BACKEND_THREAD_SAFE = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# No task-sent event: a second Redis round trip in every POST /api/jobs (bench/RESULTS.md).
# Flower shows a task from the moment a worker receives it; the Job row shows it queued.
CELERY_WORKER_SEND_TASK_EVENTS = True
# Task events flushed after the task reaches its pool process, not before (config/worker.py).
CELERY_WORKER_CONSUMER = "config.worker:Consumer"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Celery's Django fixup closes every database connection before and after each task unless
# this is set; config/celery_app.py applies CONN_MAX_AGE around tasks instead, as Django
# does around requests (a new SQLite connection per task cost more than the coucou job).
CELERY_DB_REUSE_MAX = 1_000_000
# A Redis blip must not restart running jobs: they finish, and the redelivered message (after
# the visibility timeout) finds the Job finished and does nothing (jobs/runtime.py).
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {}
if _BROKER_SCHEME in {"redis", "rediss", "sentinel"}:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Unacknowledged work comes back after this many seconds; it must exceed the longest job.
        "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600),
        "socket_timeout": 5,
        "socket_connect_timeout": 5,
    }
if _BROKER_SCHEME == "sentinel":
    CELERY_BROKER_TRANSPORT_OPTIONS["master_name"] = os.environ.get("CELERY_BROKER_SENTINEL_MASTER", "")
    CELERY_BROKER_TRANSPORT_OPTIONS["sentinel_kwargs"] = {"socket_timeout": 1, "socket_connect_timeout": 1}
    if not CELERY_BROKER_TRANSPORT_OPTIONS["master_name"]:
        raise ImproperlyConfigured("A sentinel:// CELERY_BROKER_URL needs CELERY_BROKER_SENTINEL_MASTER.")
if _BROKER_SCHEME in {"amqp", "amqps", "pyamqp"}:
    # RabbitMQ redelivers unacknowledged work when the worker's connection closes, and
    # confirms each publish: a 202 means the broker holds the job.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"confirm_publish": True}
CELERY_BROKER_CONNECTION_TIMEOUT = 5
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5}

# --- Coucou apps -------------------------------------------------------------------------
REALTIME_STREAM_MAXLEN = env_int("REALTIME_STREAM_MAXLEN", 10_000)
REALTIME_STREAM_MAX_AGE_S = env_int("REALTIME_STREAM_MAX_AGE_S", 24 * 3600)
REALTIME_SWEEP_INTERVAL_S = float(os.environ.get("REALTIME_SWEEP_INTERVAL_S", 1.0))
# Client frames: at most 4 KiB each (else an error frame), 10/s with bursts of 30 (else 4429).
REALTIME_MAX_CLIENT_FRAME_BYTES = env_int("REALTIME_MAX_CLIENT_FRAME_BYTES", 4096)
REALTIME_CLIENT_RATE = float(os.environ.get("REALTIME_CLIENT_RATE", 10))
REALTIME_CLIENT_BURST = env_int("REALTIME_CLIENT_BURST", 30)
# A socket whose unsent frames pass the hard limit, or stay above the soft one for the grace
# period, is closed with 4008 (slow reader); see realtime/backpressure.py.
REALTIME_SLOW_READER_SOFT_BYTES = env_int("REALTIME_SLOW_READER_SOFT_BYTES", 1024 * 1024)
REALTIME_SLOW_READER_HARD_BYTES = env_int("REALTIME_SLOW_READER_HARD_BYTES", 8 * 1024 * 1024)
REALTIME_SLOW_READER_GRACE_S = float(os.environ.get("REALTIME_SLOW_READER_GRACE_S", 10))
REALTIME_SLOW_CLOSE_TIMEOUT_S = float(os.environ.get("REALTIME_SLOW_CLOSE_TIMEOUT_S", 10))
# Named channels (README, "Channels, rooms and presence"): subscriptions per socket, sockets
# per user and sockets without credentials per client IP, across every web process.
REALTIME_MAX_SUBSCRIPTIONS = env_int("REALTIME_MAX_SUBSCRIPTIONS", 100)
REALTIME_MAX_SOCKETS_PER_USER = env_int("REALTIME_MAX_SOCKETS_PER_USER", 50)
REALTIME_MAX_ANONYMOUS_PER_IP = env_int("REALTIME_MAX_ANONYMOUS_PER_IP", 20)
# A socket's presence and socket counts live this long in Redis unless its web process renews
# them (every third of it): a killed process's users leave within 4/3 of it.
REALTIME_PRESENCE_TTL_S = float(os.environ.get("REALTIME_PRESENCE_TTL_S", 15))
JOBS_PROGRESS_MAX_HZ = float(os.environ.get("JOBS_PROGRESS_MAX_HZ", 10))
JOBS_PROGRESS_DB_INTERVAL_S = float(os.environ.get("JOBS_PROGRESS_DB_INTERVAL_S", 1))
# Streamed output (ctx.stream(key), jobs/output.py): each (job, key) is kept JOBS_OUTPUT_TTL_S
# after its last write, up to JOBS_OUTPUT_MAX_BYTES (a write past it raises OutputTooLarge);
# writes are sent in batches every JOBS_OUTPUT_BATCH_MS or JOBS_OUTPUT_BATCH_BYTES.
JOBS_OUTPUT_TTL_S = env_int("JOBS_OUTPUT_TTL_S", 24 * 3600)
JOBS_OUTPUT_MAX_BYTES = env_int("JOBS_OUTPUT_MAX_BYTES", 16 * 1024 * 1024)
JOBS_OUTPUT_BATCH_MS = float(os.environ.get("JOBS_OUTPUT_BATCH_MS", 50))
JOBS_OUTPUT_BATCH_BYTES = env_int("JOBS_OUTPUT_BATCH_BYTES", 16 * 1024)
# Lifecycle: see the README's "Guarantees and limits".
JOBS_MAX_ATTEMPTS = env_int("JOBS_MAX_ATTEMPTS", 3)  # runs of a job whose worker keeps dying
JOBS_HEARTBEAT_TTL_S = float(os.environ.get("JOBS_HEARTBEAT_TTL_S", 10))
JOBS_REAP_INTERVAL_S = float(os.environ.get("JOBS_REAP_INTERVAL_S", 5))
JOBS_CANCEL_GRACE_S = float(os.environ.get("JOBS_CANCEL_GRACE_S", 10))
JOBS_MAX_ACTIVE_PER_USER = env_int("JOBS_MAX_ACTIVE_PER_USER", 20)
JOBS_MAX_PARAMS_BYTES = env_int("JOBS_MAX_PARAMS_BYTES", 16 * 1024)
JOBS_ENABLE_CRASH_DEMO = env_bool("JOBS_ENABLE_CRASH_DEMO", False)
# Long-wait alerts (jobs/alerts.py): a job still queued after this many seconds is reported
# once (log, metric, signal); 0 turns it off. A task's @job(long_wait_s=...) overrides it.
JOBS_LONG_WAIT_S = float(os.environ.get("JOBS_LONG_WAIT_S", 60))
# Retention (jobs/retention.py): finished jobs are purged this many days after they finish
# (0: never, by the workers; `manage.py purge_jobs` still purges on demand), checked by one
# worker at a time every JOBS_PURGE_INTERVAL_S (0: not by the workers' sweep; Celery beat
# runs the task coucou.purge_jobs instead), JOBS_PURGE_BATCH_SIZE rows per transaction.
JOBS_RETENTION_DAYS = float(os.environ.get("JOBS_RETENTION_DAYS", "30") or 0)
JOBS_PURGE_INTERVAL_S = float(os.environ.get("JOBS_PURGE_INTERVAL_S", 3600))
JOBS_PURGE_BATCH_SIZE = env_int("JOBS_PURGE_BATCH_SIZE", 1000)
# The jobs console (the admin's Jobs pages) updates live from the staff-only console:jobs.
JOBS_CONSOLE_LIVE = env_bool("JOBS_CONSOLE_LIVE", True)
API_ENQUEUE_RATE = os.environ.get("API_ENQUEUE_RATE", "60/m")  # per user, POST /api/jobs and /coucou
CHAT_MESSAGE_RATE = os.environ.get("CHAT_MESSAGE_RATE", "30/m")  # per user, chat messages

# --- Metrics (config/metrics.py) -----------------------------------------------------------
# Off (METRICS_ENABLED=0): nothing is collected, web or worker, and /metrics answers 404;
# read once, when the metrics modules are imported. The bench measures what collecting costs.
METRICS_ENABLED = env_bool("METRICS_ENABLED", True)
# /metrics on web, and each worker's own endpoint, answer a scrape that carries
# "Authorization: Bearer <METRICS_TOKEN>" or comes from an address in METRICS_ALLOWED_IPS
# (addresses or networks: 10.0.0.0/8). With neither set they answer 404: never open.
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
METRICS_ALLOWED_IPS = env_list("METRICS_ALLOWED_IPS")
# The worker's main process serves its pool's metrics on this port (0: not served).
METRICS_WORKER_PORT = env_int("METRICS_WORKER_PORT", 0)
METRICS_WORKER_HOST = os.environ.get("METRICS_WORKER_HOST", "127.0.0.1")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.channels.server": {"level": "WARNING"}},
}
