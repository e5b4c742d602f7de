"""Pools on the realtime Redis's master as Redis Sentinel names it (REALTIME_REDIS_SENTINELS).

redis-py's Sentinel connections look the master up only in ``connect()``. A connection that
dropped reconnects elsewhere (a retried command, the next command on a single-connection
client) through ``connect_check_health()``, to the address it had: the dead master, forever
for ``sync_client()``'s one connection (redis/redis-py#3874, open; reproduced here with
redis-py 8.1). These connections look the master up on every connect.
"""

# mypy: disable-error-code="no-untyped-call"
# (redis-py's Sentinel classes and parse_url carry no annotations)

from __future__ import annotations

import asyncio
from typing import Any

import redis
import redis.asyncio as aioredis
import redis.asyncio.sentinel
import redis.sentinel

_SENTINEL_KWARGS = {"socket_timeout": 1, "socket_connect_timeout": 1}


class Connection(redis.sentinel.SentinelManagedConnection):
    def connect(self) -> None:
        self.retry.call_with_retry(
            lambda: self.connect_check_health(check_health=True, retry_socket_connect=False),
            lambda error: None,
        )

    def connect_check_health(self, check_health: bool = True, retry_socket_connect: bool = True) -> None:
        if not self._sock:
            self.host, self.port = self.connection_pool.get_master_address()
        super().connect_check_health(check_health=check_health, retry_socket_connect=retry_socket_connect)


class SSLConnection(Connection, redis.connection.SSLConnection):
    pass


class AsyncConnection(aioredis.sentinel.SentinelManagedConnection):
    async def connect(self) -> None:
        await self.retry.call_with_retry(
            lambda: self.connect_check_health(check_health=True, retry_socket_connect=False),
            lambda error: asyncio.sleep(0),
        )

    async def connect_check_health(
        self, check_health: bool = True, retry_socket_connect: bool = True
    ) -> None:
        if not self.is_connected:
            self.host, self.port = await self.connection_pool.get_master_address()
        await super().connect_check_health(
            check_health=check_health, retry_socket_connect=retry_socket_connect
        )


class AsyncSSLConnection(AsyncConnection, aioredis.connection.SSLConnection):
    pass


class _BlockingAsyncPool(aioredis.sentinel.SentinelConnectionPool, aioredis.BlockingConnectionPool):
    """The master's pool, waiting for a free connection as a BlockingConnectionPool does."""


def sync_pool(sentinels: Any, master: str, url: str, **options: Any) -> redis.ConnectionPool:
    manager = redis.sentinel.Sentinel(sentinels, sentinel_kwargs=_SENTINEL_KWARGS)
    tls, url_options = _master_options(url)
    return redis.sentinel.SentinelConnectionPool(
        master, manager, connection_class=SSLConnection if tls else Connection, **url_options, **options
    )


def async_pool(sentinels: Any, master: str, url: str, **options: Any) -> aioredis.ConnectionPool:
    manager = aioredis.sentinel.Sentinel(sentinels, sentinel_kwargs=_SENTINEL_KWARGS)
    tls, url_options = _master_options(url)
    return _BlockingAsyncPool(
        master,
        manager,
        connection_class=AsyncSSLConnection if tls else AsyncConnection,
        **url_options,
        **options,
    )


def _master_options(url: str) -> tuple[bool, dict[str, Any]]:
    """What REALTIME_REDIS_URL says of the master: TLS or not, its database and credentials."""
    parsed = redis.connection.parse_url(url)
    return url.startswith("rediss://"), {
        k: v for k, v in parsed.items() if k in {"db", "username", "password"}
    }
