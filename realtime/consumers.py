"""The one WebSocket of a browser tab: every event of its user, in ``seq`` order.

Protocol (see the README): the server first sends ``hello`` with the user's latest seq, then
relays each event. ``?after=SEQ`` on connect, or a ``resume`` frame, replays every retained
event after SEQ, then continues live.

No duplicate, no hole: the consumer remembers the last seq it sent. A live frame at or below
it is dropped; a live frame above the next expected seq means the live path lost some, so the
consumer replays the hole from the user's stream first. A lost *last* event, which no later
frame reveals, is found by the per-process sweep (realtime/sweep.py) within a second.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer
from redis.exceptions import RedisError

from realtime import backpressure, conf, protocol
from realtime.groups import group_for
from realtime.stream import alatest_seq, aread_after
from realtime.sweep import sweep_for_loop

logger = logging.getLogger(__name__)


class EventsConsumer(AsyncWebsocketConsumer):
    user_id: int
    group: str
    sent: int = 0

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Channels awaits aclose_old_connections() before every handler: a round trip to the
        # executor thread per frame, 22-26 % of the web process's time at 1,500 events/s
        # (bench/RESULTS.md). This consumer never touches the database (auth happens in the
        # middleware, through database_sync_to_async, which closes its own connections).
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

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
            latest = await alatest_seq(self.user_id)
            self.sent = latest
            await self.send(text_data=protocol.hello(latest))
            after = _query_after(self.scope)
            if isinstance(after, int):
                await self._replay(after)
            elif after is not None:
                await self.send(text_data=after)
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
                await self._replay(frame["after"])

    def _within_rate(self) -> bool:
        """A token bucket: ``client_rate`` frames per second, bursts of ``client_burst``."""
        now = time.monotonic()
        refill = (now - self.allowance_at) * self.settings.client_rate
        self.allowance = min(float(self.settings.client_burst), self.allowance + refill) - 1
        self.allowance_at = now
        return self.allowance >= 0

    async def realtime_event(self, message: dict[str, Any]) -> None:
        seq = message["seq"]
        if seq <= self.sent:
            return
        async with self.sending:
            if seq <= self.sent:
                return
            if seq > self.sent + 1:
                await self._replay(self.sent)  # the hole, and this frame with it
                return
            self.sent = seq
            await self.send(text_data=message["frame"])

    def catch_up(self, latest: int) -> None:
        """Called by the sweep when the stream holds events this socket has not been sent."""
        if self.catching_up is None or self.catching_up.done():
            self.catching_up = asyncio.get_running_loop().create_task(self._catch_up(latest))

    async def _catch_up(self, latest: int) -> None:
        try:
            async with self.sending:
                if latest > self.sent:
                    await self._replay(self.sent)
        except (RedisError, OSError):
            pass  # Redis is restarting: the next sweep tries again

    async def _replay(self, after: int) -> None:
        """Send every retained event after ``after``; ``resync`` first if some are gone.

        The caller holds ``self.sending``.
        """
        cursor = after
        unsent = 0  # bytes handed to daphne since it last drained
        limits = self.settings.slow_reader
        history = await aread_after(self.user_id, cursor, self.settings.replay_batch)
        if history.resync:
            await self.send(text_data=protocol.resync(history.latest, after))
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
            history = await aread_after(self.user_id, cursor, self.settings.replay_batch)


def _reconnect_race(exc: RuntimeError) -> bool:
    # redis-py's asyncio pub/sub, reconnecting while the layer's reader waits on the same
    # connection: transient, like the connection errors around it.
    return "another coroutine is already waiting" in str(exc)


def _query_after(scope: dict[str, Any]) -> int | str | None:
    """The ``?after=`` seq, None when absent, or an error frame when malformed."""
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("after")
    if not values:
        return None
    # isdigit() alone admits "²", which int() refuses: only ASCII digits are a seq.
    if (
        not (values[0].isascii() and values[0].isdigit())
        or len(values[0]) > 16
        or int(values[0]) > protocol.MAX_SEQ
    ):
        return protocol.error("bad_resume", "'after' must be a non-negative integer seq")
    return int(values[0])
