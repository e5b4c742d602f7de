"""The one WebSocket of a browser tab: every event of its user, in ``seq`` order.

Protocol (see the README): the server first sends ``hello`` with the user's latest seq, then
relays each event. ``?after=SEQ`` on connect, or a ``resume`` frame, replays every retained
event after SEQ, then continues live. Live frames at or below the last seq sent are dropped;
a live frame above the next expected seq means the channel layer lost some, and the consumer
repairs the hole from the user's stream before sending it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from channels.generic.websocket import AsyncWebsocketConsumer

from realtime import conf, protocol
from realtime.groups import group_for
from realtime.stream import alatest_seq, aread_after


class EventsConsumer(AsyncWebsocketConsumer):
    user_id: int
    group: str
    sent: int

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.accept()
            await self.close(code=protocol.CLOSE_UNAUTHENTICATED)
            return
        self.user_id = user.pk
        self.group = group_for(user.pk)
        self.settings = conf.get()
        # Join before reading the latest seq: every later event then arrives live or is
        # found by the gap check; none falls between the two.
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        latest = await alatest_seq(self.user_id)
        self.sent = latest
        await self.send(text_data=protocol.hello(latest))
        after = _query_after(self.scope)
        if isinstance(after, int):
            await self.replay(after)
        elif after is not None:
            await self.send(text_data=after)

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
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
            await self.replay(frame["after"])

    async def realtime_event(self, message: dict[str, Any]) -> None:
        seq = message["seq"]
        if seq <= self.sent:
            return
        if seq > self.sent + 1:
            await self.replay(self.sent)
            return
        self.sent = seq
        await self.send(text_data=message["frame"])

    async def replay(self, after: int) -> None:
        """Send every retained event after ``after`` (a ``resync`` first if some are gone)."""
        cursor = after
        first = True
        while True:
            history = await aread_after(self.user_id, cursor, self.settings.replay_batch)
            if first and history.resync:
                await self.send(text_data=protocol.resync(history.latest, after))
            first = False
            for seq, frame in history.frames:
                await self.send(text_data=frame.decode())
                cursor = seq
            if history.frames:
                self.sent = max(self.sent, cursor)
            if len(history.frames) < self.settings.replay_batch:
                return


def _query_after(scope: dict[str, Any]) -> int | str | None:
    """The ``?after=`` seq, None when absent, or an error frame when malformed."""
    values = parse_qs(scope.get("query_string", b"").decode()).get("after")
    if not values:
        return None
    if not values[0].isdigit():
        return protocol.error("bad_resume", "'after' must be a non-negative integer seq")
    return int(values[0])
