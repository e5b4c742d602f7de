"""A per-process safety net under the live path.

Every ``REALTIME_SWEEP_INTERVAL_S`` one task per event loop reads the latest seq of every
user with a socket open in this process (one MGET per 100 users, letting frames through in
between) and tells each socket that is behind to catch up from the stream. It repairs what
the consumer's gap check cannot see: a lost *last* event (no later frame reveals the hole),
and everything published while the channel layer was re-subscribing after a Redis restart
or a dropped subscriber connection.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Protocol

from redis.exceptions import RedisError

from realtime.groups import seq_key
from realtime.redis import async_client

logger = logging.getLogger(__name__)
_CHUNK = 100  # users per MGET: the loop yields between chunks, so frames wait ~0.5 ms at most


class Follower(Protocol):
    sent: int

    def catch_up(self, latest: int) -> None: ...


class Sweep:
    def __init__(self, interval: float) -> None:
        self.interval = interval
        # Weak references in a list: a WeakSet per user cost about 0.7 KB of each idle socket.
        self.followers: dict[int, list[weakref.ref[Follower]]] = {}
        self.task: asyncio.Task[None] | None = None

    def add(self, user_id: int, follower: Follower) -> None:
        self.followers.setdefault(user_id, []).append(weakref.ref(follower))
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run(), name="coucou-sweep")

    def discard(self, user_id: int, follower: Follower | None) -> None:
        """Forget ``follower`` (None: only the followers that are gone) of ``user_id``."""
        kept = [ref for ref in self.followers.get(user_id, ()) if ref() not in (None, follower)]
        if kept:
            self.followers[user_id] = kept
        else:
            self.followers.pop(user_id, None)

    async def _run(self) -> None:
        while self.followers:
            await asyncio.sleep(self.interval)
            try:
                await self.sweep_once()
            except (RedisError, OSError) as exc:
                logger.warning("seq sweep failed, retrying: %s", exc)

    async def sweep_once(self) -> None:
        user_ids = list(self.followers)
        for start in range(0, len(user_ids), _CHUNK):
            chunk = user_ids[start : start + _CHUNK]
            values = await async_client().mget([seq_key(uid) for uid in chunk])
            for uid, raw in zip(chunk, values, strict=True):
                latest = int(raw or 0)
                for ref in self.followers.get(uid, []).copy():
                    follower = ref()
                    if follower is None:
                        self.discard(uid, None)  # a socket that went without saying so
                    elif latest > follower.sent:
                        follower.catch_up(latest)


_sweeps: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Sweep] = weakref.WeakKeyDictionary()


def sweep_for_loop(interval: float) -> Sweep:
    loop = asyncio.get_running_loop()
    sweep = _sweeps.get(loop)
    if sweep is None:
        sweep = _sweeps[loop] = Sweep(interval)
    return sweep
