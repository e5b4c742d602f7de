"""Long-lived Redis clients: one pool per process (sync, and fail-fast) and per event loop (async)."""

from __future__ import annotations

import asyncio
import os
import weakref
from typing import Any

import redis
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.exceptions import ConnectionError, TimeoutError
from redis.retry import Retry

from realtime import conf, sentinel
from realtime.groups import RUN_KEY

_sync: dict[int, redis.Redis] = {}
_fail_fast: dict[int, redis.Redis] = {}
_scripts: dict[tuple[int, str], Any] = {}
_async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aioredis.Redis] = weakref.WeakKeyDictionary()


# Every Coucou connection records, before its first command, which Redis process it reached:
# a stream written under another process may have been lost or rewound (realtime/stream.py).
_MARK_RUN = "return redis.call('SET', KEYS[1], string.match(redis.call('INFO', 'server'), 'run_id:(%x+)'))"


def mark_run(connection: Any) -> None:  # redis-py's Connection: its methods are untyped
    """redis-py's ``redis_connect_func``: the usual handshake, then the run mark."""
    connection.on_connect()
    connection.send_command("EVAL", _MARK_RUN, 1, RUN_KEY)
    connection.read_response()


async def amark_run(connection: Any) -> None:
    await connection.on_connect()
    await connection.send_command("EVAL", _MARK_RUN, 1, RUN_KEY)
    await connection.read_response()


def sync_client() -> redis.Redis:
    """The process's client; a forked child (a Celery worker) builds its own.

    It rides out a short Redis restart: a failed command is retried for about two seconds.
    One connection, behind redis-py's lock: taking a connection from a pool and giving it
    back costs about a fifth of a publish's CPU (bench/RESULTS.md). Pipelines still take
    their own connection from the pool.
    """
    pid = os.getpid()
    client = _sync.get(pid)
    if client is None:
        _sync.clear()
        client = _sync[pid] = _client(
            socket_timeout=5,
            socket_connect_timeout=2,
            health_check_interval=30,
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=6),
            retry_on_error=[ConnectionError, TimeoutError],
            single_connection_client=True,
            redis_connect_func=mark_run,
        )
    return client


def fail_fast_client() -> redis.Redis:
    """The process's client for work that may skip Redis: pooled, 1 s timeouts, no retries.

    The throttle fails open; it must not hold the HTTP threads in line behind
    ``sync_client()``'s one connection while that retries through a Redis restart.
    """
    pid = os.getpid()
    client = _fail_fast.get(pid)
    if client is None:
        _fail_fast.clear()
        client = _fail_fast[pid] = _client(
            socket_timeout=1, socket_connect_timeout=1, retry=Retry(NoBackoff(), 0)
        )
    return client


def script(client: redis.Redis | aioredis.Redis, lua: str) -> Any:
    """``lua`` registered on ``client``, once per client (EVALSHA, loaded again if flushed)."""
    key = (id(client), lua)
    registered = _scripts.get(key)
    if registered is None:
        registered = _scripts[key] = client.register_script(lua)
    return registered


def probe() -> bool:
    """One quick PING on a fresh connection: for health checks, which must not wait."""
    client = _client(socket_timeout=1, socket_connect_timeout=1)
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


def async_client() -> aioredis.Redis:
    """The running loop's client. A blocking pool: a burst of sockets waits for a
    connection instead of failing with MaxConnectionsError (redis-py caps pools at 100)."""
    loop = asyncio.get_running_loop()
    client = _async.get(loop)
    if client is None:
        pool = _async_pool(
            max_connections=200,
            timeout=10,
            socket_timeout=5,
            socket_connect_timeout=2,
            health_check_interval=30,
            retry=AsyncRetry(ExponentialBackoff(cap=0.5, base=0.05), retries=6),
            retry_on_error=[ConnectionError, TimeoutError],
            redis_connect_func=amark_run,
        )
        client = _async[loop] = aioredis.Redis(connection_pool=pool)
    return client


class SharedConnectionPool(redis.ConnectionPool):
    """One pool per process and URL, for Django's Redis cache (``CACHES`` ``pool_class``).

    Under ASGI each request gets a new cache object, and with it a new pool: a Redis
    connection opened per request that uses the cache (the API's throttle does).
    """

    _shared: dict[tuple[int, str], redis.ConnectionPool] = {}

    @classmethod
    def from_url(cls, url: str, **kwargs: object) -> redis.ConnectionPool:  # type: ignore[override]
        key = (os.getpid(), url)
        pool = cls._shared.get(key)
        if pool is None:
            if url == conf.get().redis_url:  # the realtime Redis, maybe behind Sentinels
                pool = cls._shared[key] = _sync_pool(**kwargs)
            else:
                pool = cls._shared[key] = super().from_url(url, **kwargs)
        return pool


# --- Where the realtime Redis is: REALTIME_REDIS_URL's server, or the master its Sentinels name.
def _client(*, single_connection_client: bool = False, **options: Any) -> redis.Redis:
    client = redis.Redis(
        connection_pool=_sync_pool(**options), single_connection_client=single_connection_client
    )
    client.auto_close_connection_pool = True
    return client


def _sync_pool(**options: Any) -> redis.ConnectionPool:
    settings = conf.get()
    if settings.redis_sentinels:
        return sentinel.sync_pool(
            settings.redis_sentinels, settings.redis_sentinel_master, settings.redis_url, **options
        )
    return redis.ConnectionPool.from_url(settings.redis_url, **options)


def _async_pool(**options: Any) -> aioredis.ConnectionPool:
    settings = conf.get()
    if settings.redis_sentinels:
        return sentinel.async_pool(
            settings.redis_sentinels, settings.redis_sentinel_master, settings.redis_url, **options
        )
    return aioredis.BlockingConnectionPool.from_url(settings.redis_url, **options)
