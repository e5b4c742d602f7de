"""A per-process safety net under the live path.

Every ``REALTIME_SWEEP_INTERVAL_S`` one task per event loop reads the latest seq and the
epoch of every stream (a user's, a channel's) that a socket of this process follows (one
script call per 100 streams, letting frames through in between) and tells each socket whose
(seq, epoch) differs to catch up from the stream: at once for a history that went back or
changed epoch; for a missing event once the stream already held it at the previous sweep (so
within two intervals), never for frames still on their way to 10,000 sockets. It repairs
what the consumer's gap check cannot see: a lost *last* event (no later frame reveals the
hole), everything published while the channel layer was re-subscribing after a Redis restart
or a dropped subscriber connection, and a history that Redis lost or rewound while no new
event came (the socket gets ``resync``).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Protocol

from redis.exceptions import RedisError

from realtime.groups import Stream
from realtime.stream import aheads
from realtime.weaklists import WeakLists

logger = logging.getLogger(__name__)
_CHUNK = 100  # streams per call: the loop yields between chunks, so frames wait ~0.5 ms at most


class Follower(Protocol):
    sent: int
    epoch: str

    def catch_up(self) -> None: ...


class Sweep:
    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.followers: WeakLists[Stream, Follower] = WeakLists()
        self.task: asyncio.Task[None] | None = None
        self.seen: dict[Stream, tuple[int, str]] = {}  # each stream's head at the last sweep

    def add(self, stream: Stream, follower: Follower) -> None:
        self.followers.add(stream, follower)
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run(), name="coucou-sweep")

    def discard(self, stream: Stream, follower: Follower) -> None:
        self.followers.discard(stream, follower)

    async def _run(self) -> None:
        while self.followers:
            await asyncio.sleep(self.interval)
            try:
                await self.sweep_once()
            except (RedisError, OSError) as exc:
                logger.warning("seq sweep failed, retrying: %s", exc)

    async def sweep_once(self) -> None:
        streams = self.followers.keys()
        seen: dict[Stream, tuple[int, str]] = {}
        for start in range(0, len(streams), _CHUNK):
            chunk = streams[start : start + _CHUNK]
            heads = await aheads(chunk)
            for stream, (latest, epoch) in zip(chunk, heads, strict=True):
                seen[stream] = (latest, epoch)
                # Behind what the stream held at the last sweep: a lost event, not one still
                # on its way (10,000 sockets of one channel take a while to be sent a frame).
                before, before_epoch = self.seen.get(stream, (latest, epoch))
                due = min(latest, before) if before_epoch == epoch else latest
                for follower in self.followers.get(stream):
                    # Or ahead, or in another epoch: a history that was lost or rewound.
                    if follower.sent < due or follower.sent > latest or epoch != follower.epoch:
                        follower.catch_up()
        self.seen = seen


_sweeps: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Sweep] = weakref.WeakKeyDictionary()


def sweep_for_loop(interval: float) -> Sweep:
    loop = asyncio.get_running_loop()
    sweep = _sweeps.get(loop)
    if sweep is None:
        sweep = _sweeps[loop] = Sweep(interval)
    return sweep
