"""Celery's Redis transport, keeping one Redis client per channel.

kombu's Redis channel builds a new ``redis.Redis``, which is costly, for every command it sends
outside its poller (docs/internals.md, "kombu's Redis client"). The connections already came
from the channel's pool; now the client object does too. ``redis.Redis`` is thread-safe over
its pool, so sharing it is too.

``install()`` (config/celery_app.py) makes ``redis://`` and ``rediss://`` URLs resolve to it
in every kombu connection of the process, Celery's and Flower's, so URLs keep their scheme
(Flower picks its broker client by it) and ``sentinel://`` keeps kombu's own transport.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kombu import transport
from kombu.transport import redis


class Channel(redis.Channel):
    _shared: tuple[Any, Any] = (None, None)  # (the pool it was built on, the client)

    @contextmanager
    def conn_or_acquire(self, client: Any = None) -> Iterator[Any]:
        if client:
            yield client
            return
        pool, shared = self._shared
        if pool is not self.pool:  # first use, or kombu replaced its pools after an error
            shared = self._create_client()  # type: ignore[attr-defined]  # not in celery-types' stub
            self._shared = (self.pool, shared)
        yield shared


class Transport(redis.Transport):
    Channel = Channel


def install() -> None:
    for scheme in ("redis", "rediss"):
        transport.TRANSPORT_ALIASES[scheme] = f"{__name__}:Transport"
        getattr(transport, "_transport_cache", {}).pop(scheme, None)  # in case kombu resolved it already
