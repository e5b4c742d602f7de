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
from realtime.weaklists import WeakLists

logger = logging.getLogger(__name__)
_CHUNK = 100  # users per MGET: the loop yields between chunks, so frames wait ~0.5 ms at most


class Follower(Protocol):
    sent: int

    def catch_up(self, latest: int) -> None: ...


class Sweep:
    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.followers: WeakLists[int, Follower] = WeakLists()
        self.task: asyncio.Task[None] | None = None

    def add(self, user_id: int, follower: Follower) -> None:
        self.followers.add(user_id, follower)
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run(), name="coucou-sweep")

    def discard(self, user_id: int, follower: Follower) -> None:
        self.followers.discard(user_id, follower)

    async def _run(self) -> None:
        while self.followers:
            await asyncio.sleep(self.interval)
            try:
                await self.sweep_once()
            except (RedisError, OSError) as exc:
                logger.warning("seq sweep failed, retrying: %s", exc)

    async def sweep_once(self) -> None:
        user_ids = self.followers.keys()
        for start in range(0, len(user_ids), _CHUNK):
            chunk = user_ids[start : start + _CHUNK]
            values = await async_client().mget([seq_key(uid) for uid in chunk])
            for uid, raw in zip(chunk, values, strict=True):
                latest = int(raw or 0)
                for follower in self.followers.get(uid):
                    if latest > follower.sent:
                        follower.catch_up(latest)


_sweeps: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Sweep] = weakref.WeakKeyDictionary()


def sweep_for_loop(interval: float) -> Sweep:
    loop = asyncio.get_running_loop()
    sweep = _sweeps.get(loop)
    if sweep is None:
        sweep = _sweeps[loop] = Sweep(interval)
    return sweep
