"""The one WebSocket of a browser tab: every event of its user, in ``seq`` order.

Protocol (see the README): the server first sends ``hello`` with the user's latest seq and
the stream's epoch, then relays each event. ``?after=SEQ&epoch=E`` on connect, or a
``resume`` frame, replays every retained event after SEQ, then continues live; if E is not
the stream's epoch, or SEQ is one it never reached, ``resync`` comes first.

No duplicate, no hole: the consumer remembers the epoch and the last seq it sent. A live frame
of that epoch at or below the seq is dropped; one above the next expected seq means the live
path lost some, so the consumer replays the hole from the user's stream first. A frame of
another epoch means Redis lost or rewound the history: the consumer reads the stream again,
which gives ``resync`` and the new epoch's events. A lost *last* event, which no later frame
reveals, and a history that went back with no new event, are found by the per-process sweep
(realtime/sweep.py) within ``REALTIME_SWEEP_INTERVAL_S``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any
from urllib.parse import parse_qs

from channels.generic.websocket import AsyncWebsocketConsumer
from redis.exceptions import RedisError

from realtime import backpressure, conf, protocol
from realtime.groups import group_for
from realtime.stream import RELAY_MESSAGE_TYPE, aheads, aread_after
from realtime.sweep import sweep_for_loop

logger = logging.getLogger(__name__)


class EventsConsumer(AsyncWebsocketConsumer):
    user_id: int
    group: str
    sent: int = 0
    epoch: str = ""

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Relayed events never touch the database: they skip the executor round trip of
        # Channels' aclose_old_connections(); everything else is Channels' own dispatch.
        # tests/realtime/test_dispatch_seam.py fails if Channels' dispatch starts doing more.
        if message["type"] == RELAY_MESSAGE_TYPE:
            await self.realtime_event(message)
        else:
            await super().dispatch(message)

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.accept()
            await self.close(code=protocol.CLOSE_UNAUTHENTICATED)
            return
        self.user_id = user.pk
        self.group = group_for(user.pk)
        self.settings = conf.get()
        self.sending = asyncio.Lock()  # live frames, replays and sweeps take turns
        self.allowance = float(self.settings.client_burst)
        self.allowance_at = time.monotonic()
        self.catching_up: asyncio.Task[None] | None = None
        # Join before reading the latest seq: every later event then arrives live or is
        # found by the gap check; none falls between the two.
        joined = await self._join()
        await self.accept()
        if not joined:
            await self.close(code=protocol.CLOSE_TRY_AGAIN)
            return
        async with self.sending:
            [(self.sent, self.epoch)] = await aheads([self.user_id])
            await self.send(text_data=protocol.hello(self.sent, self.epoch))
            resume = _query_resume(self.scope)
            if isinstance(resume, tuple):
                await self._replay(*resume)
            elif resume is not None:
                await self.send(text_data=resume)
        self.sweep = sweep_for_loop(self.settings.sweep_interval_s)
        self.sweep.add(self.user_id, self)

    async def _join(self) -> bool:
        # Right after a Redis restart the layer's subscriber connection is still being
        # re-established: give it a few seconds rather than fail the handshake (see
        # _reconnect_race for the RuntimeError it may raise meanwhile).
        for delay in (0.1, 0.2, 0.4, 0.8, 1.6, 0):
            try:
                await self.channel_layer.group_add(self.group, self.channel_name)
                return True
            except (RedisError, OSError, RuntimeError) as exc:
                if isinstance(exc, RuntimeError) and not _reconnect_race(exc):
                    raise  # a bug, not Redis coming back
                logger.info("joining %s failed, retrying: %r", self.group, exc)
                await asyncio.sleep(delay)
        return False

    async def disconnect(self, code: int) -> None:
        if not hasattr(self, "group"):
            return  # never authenticated
        if hasattr(self, "sweep"):
            self.sweep.discard(self.user_id, self)
        if self.catching_up is not None:
            self.catching_up.cancel()
        try:
            await self.channel_layer.group_discard(self.group, self.channel_name)
        except (RedisError, OSError, RuntimeError) as exc:
            if isinstance(exc, RuntimeError) and not _reconnect_race(exc):
                raise
            # the subscription dies with the connection; the layer forgets it on reconnect

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if not self._within_rate():
            await self.close(code=protocol.CLOSE_FLOOD)
            return
        if text_data is None:
            await self.send(text_data=protocol.error("bad_json", "frames must be text"))
            return
        parsed = protocol.parse_client_frame(text_data, self.settings.max_client_frame_bytes)
        if isinstance(parsed, str):
            await self.send(text_data=parsed)
            return
        kind, frame = parsed
        if kind == "ping":
            await self.send(text_data=protocol.pong())
        else:
            async with self.sending:
                await self._replay(frame["after"], frame.get("epoch"))

    def _within_rate(self) -> bool:
        """A token bucket: ``client_rate`` frames per second, bursts of ``client_burst``."""
        now = time.monotonic()
        refill = (now - self.allowance_at) * self.settings.client_rate
        self.allowance = min(float(self.settings.client_burst), self.allowance + refill) - 1
        self.allowance_at = now
        return self.allowance >= 0

    async def realtime_event(self, message: dict[str, Any]) -> None:
        seq = message["seq"]
        if message["epoch"] == self.epoch and seq <= self.sent:
            return
        async with self.sending:
            if message["epoch"] != self.epoch or seq > self.sent + 1:
                # Another epoch: the stream tells whether it is new (resync) or this frame
                # is older than what the socket already follows. A hole: the stream fills it.
                await self._replay(self.sent, self.epoch)
                return
            if seq <= self.sent:
                return
            self.sent = seq
            await self.send(text_data=message["frame"])

    def catch_up(self) -> None:
        """Called by the sweep when the stream's (latest, epoch) is not what this socket has."""
        if self.catching_up is None or self.catching_up.done():
            self.catching_up = asyncio.get_running_loop().create_task(self._catch_up())

    async def _catch_up(self) -> None:
        try:
            async with self.sending:
                await self._replay(self.sent, self.epoch)
        except (RedisError, OSError):
            pass  # Redis is restarting: the next sweep tries again

    async def _replay(self, after: int, epoch: str | None = None) -> None:
        """Send every retained event after ``after`` in ``epoch`` (None: the current one);
        ``resync`` first if the epoch is not the stream's, or some events are gone.

        The caller holds ``self.sending``.
        """
        unsent = 0  # bytes handed to daphne since it last drained
        limits = self.settings.slow_reader
        history = await aread_after(self.user_id, after, self.settings.replay_batch, epoch)
        if history.resync:
            await self.send(text_data=protocol.resync(history.latest, history.epoch, after))
            self.sent = history.start  # the socket follows the new epoch from its start
        self.epoch, cursor = history.epoch, history.start
        while True:
            for seq, frame in history.frames:
                await self.send(text_data=frame.decode())
                self.sent = max(self.sent, seq)
                cursor = seq
                unsent += len(frame)
                if unsent >= limits.soft_bytes // 2:
                    # Go at the client's pace: a long replay must not look like a slow reader.
                    if not await backpressure.drained(
                        self.scope.get("client"), below=limits.soft_bytes // 4, timeout=limits.grace_s
                    ):
                        # It really is one: nothing drained for the whole grace period.
                        logger.warning(
                            "closing slow reader %s with 4008 during a replay", self.scope.get("client")
                        )
                        await self.close(code=protocol.CLOSE_SLOW_READER)
                        return
                    unsent = 0
            if len(history.frames) < self.settings.replay_batch:
                return
            history = await aread_after(self.user_id, cursor, self.settings.replay_batch, self.epoch)
            if history.resync:  # the epoch changed in the middle of the replay
                await self.send(text_data=protocol.resync(history.latest, history.epoch, cursor))
                self.epoch, self.sent = history.epoch, history.start


def _reconnect_race(exc: RuntimeError) -> bool:
    # redis-py's asyncio pub/sub, reconnecting while the layer's reader waits on the same
    # connection: transient, like the connection errors around it.
    return "another coroutine is already waiting" in str(exc)


def _query_resume(scope: dict[str, Any]) -> tuple[int, str | None] | str | None:
    """The ``?after=SEQ&epoch=E`` to resume from, None when absent, or an error frame."""
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    values = query.get("after")
    if not values:
        return None
    epoch = query.get("epoch", [None])[0]
    if epoch is not None and not protocol.valid_epoch(epoch):
        return protocol.error("bad_resume", "'epoch' must be the epoch string the server sent")
    # isdigit() alone admits "²", which int() refuses: only ASCII digits are a seq.
    if (
        not (values[0].isascii() and values[0].isdigit())
        or len(values[0]) > 16
        or int(values[0]) > protocol.MAX_SEQ
    ):
        return protocol.error("bad_resume", "'after' must be a non-negative integer seq")
    return int(values[0]), epoch
