"""The one WebSocket of a browser tab: every event of its user, and of the channels it
subscribes to, each stream in ``seq`` order.

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

Named channels (``subscribe`` frames, realtime/namespaces.py) follow the same rule, one
``Follow`` per stream: the user's own (frames without ``channel``) and one per channel.
A socket without credentials is accepted only when some namespace is public: it has no
stream of its own and may read only public channels.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.db import DatabaseError
from redis.exceptions import RedisError

from realtime import backpressure, conf, metrics, namespaces, protocol
from realtime.groups import Stream, user_stream
from realtime.presence import Member, ip_sockets_key, leases_for_loop, user_sockets_key
from realtime.stream import RELAY_MESSAGE_TYPE, aheads, aread_stream
from realtime.sweep import sweep_for_loop
from realtime.transient import TRANSIENT_MESSAGE_TYPE

logger = logging.getLogger(__name__)
_count_frame = metrics.frames_sent.inc
_observe_latency = metrics.publish_to_send.observe


class Follow:
    """One stream a socket follows: where it is (epoch, last seq sent) and its pending catch-up."""

    __slots__ = ("__weakref__", "catching_up", "consumer", "epoch", "sent", "stream")

    def __init__(self, consumer: EventsConsumer, stream: Stream) -> None:
        self.consumer = consumer
        self.stream = stream
        self.sent = 0
        self.epoch = ""
        self.catching_up: asyncio.Task[None] | None = None

    def catch_up(self) -> None:
        """Called by the sweep when the stream's (latest, epoch) is not what this socket has."""
        if self.catching_up is None or self.catching_up.done():
            self.catching_up = asyncio.get_running_loop().create_task(self.consumer.catch_up(self))


class EventsConsumer(AsyncWebsocketConsumer):
    own: Follow | None = None  # the user's stream; None for a socket without credentials
    channels: dict[str, Follow]
    lease_key: str = ""
    counted: Any = None  # its child of coucou_ws_open_sockets, once the socket is open

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        # disconnect() does not run when a handler raised: the leases, presence and groups of
        # the socket are given back here on every way out.
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._release()

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Relayed events never touch the database: they skip the executor round trip of
        # Channels' aclose_old_connections(); everything else is Channels' own dispatch.
        # tests/realtime/test_dispatch_seam.py fails if Channels' dispatch starts doing more.
        if message["type"] == RELAY_MESSAGE_TYPE:
            await self.realtime_event(message)
        elif message["type"] == TRANSIENT_MESSAGE_TYPE:
            await self.realtime_transient(message)
        else:
            await super().dispatch(message)

    def send(self, text_data: str | None = None, bytes_data: bytes | None = None, close: bool = False) -> Any:
        # Not async: the caller awaits Channels' own coroutine, one frame fewer per send.
        _count_frame()
        return super().send(text_data, bytes_data, close)

    async def connect(self) -> None:
        user = self.scope.get("user")
        authenticated = user is not None and user.is_authenticated
        if not authenticated and (self.scope.get("credentials_refused") or not namespaces.any_public()):
            metrics.REFUSED_UNAUTHENTICATED.inc()
            await self.accept()
            await self.close(code=protocol.CLOSE_UNAUTHENTICATED)
            return
        self.user = user
        self.settings = conf.get()
        self.sending = asyncio.Lock()  # live frames, replays and sweeps take turns
        self.allowance = float(self.settings.client_burst)
        self.allowance_at = time.monotonic()
        self.channels = {}
        self.sweep = sweep_for_loop(self.settings.sweep_interval_s)
        self.leases = leases_for_loop(self.settings.presence_ttl_s)
        own = Follow(self, user_stream(user.pk)) if authenticated else None
        # Join before reading the latest seq: every later event then arrives live or is
        # found by the gap check; none falls between the two.
        joined = own is None or await self._join(own.stream.group)
        self.own = own
        await self.accept()
        if not joined:
            metrics.REFUSED_TRY_AGAIN.inc()
            await self.close(code=protocol.CLOSE_TRY_AGAIN)
            return
        if not await self._count_socket(user.pk if own else None):
            return
        self.counted = metrics.OPEN[self.scope.get("auth", "anonymous")]
        self.counted.inc()
        async with self.sending:
            if own is None:
                await self.send(text_data=protocol.hello(None, None))
                return
            [(own.sent, own.epoch)] = await aheads([own.stream])
            await self.send(text_data=protocol.hello(own.sent, own.epoch))
            resume = _query_resume(self.scope)
            if isinstance(resume, tuple):
                metrics.replays.inc()
                await self._replay(own, *resume)
            elif resume is not None:
                await self.send(text_data=resume)
        self.sweep.add(own.stream, own)

    async def _count_socket(self, user_id: int | None) -> bool:
        """Take one of the user's (or the IP's) sockets; close with 4429 past the limit."""
        if user_id is not None:
            key, limit, what = user_sockets_key(user_id), self.settings.max_sockets_per_user, "this user"
        else:
            client = self.scope.get("client") or ("unknown", 0)
            key, limit, what = (
                ip_sockets_key(str(client[0])),
                self.settings.max_anonymous_per_ip,
                "this address",
            )
        try:
            admitted = await self.leases.acquire(key, self.channel_name, limit)
        except (RedisError, OSError):
            metrics.REFUSED_TRY_AGAIN.inc()
            await self.close(code=protocol.CLOSE_TRY_AGAIN)
            return False
        if not admitted:
            metrics.REFUSED_TOO_MANY.inc()
            detail = f"{what} has {limit} sockets open already (REALTIME_MAX_SOCKETS_PER_USER"
            detail += ")" if user_id is not None else " and REALTIME_MAX_ANONYMOUS_PER_IP)"
            await self.send(text_data=protocol.error("too_many_sockets", detail))
            await self.close(code=protocol.CLOSE_FLOOD)
            return False
        self.lease_key = key
        return True

    async def _join(self, group: str) -> bool:
        # Right after a Redis restart the layer's subscriber connection is still being
        # re-established: give it a few seconds rather than fail the handshake (see
        # _reconnect_race for the RuntimeError it may raise meanwhile).
        for delay in (0.1, 0.2, 0.4, 0.8, 1.6, 0):
            try:
                await self.channel_layer.group_add(group, self.channel_name)
                return True
            except (RedisError, OSError, RuntimeError) as exc:
                if isinstance(exc, RuntimeError) and not _reconnect_race(exc):
                    raise  # a bug, not Redis coming back
                logger.info("joining %s failed, retrying: %r", group, exc)
                await asyncio.sleep(delay)
        return False

    async def _leave(self, group: str) -> None:
        try:
            await self.channel_layer.group_discard(group, self.channel_name)
        except (RedisError, OSError, RuntimeError) as exc:
            if isinstance(exc, RuntimeError) and not _reconnect_race(exc):
                raise
            # the subscription dies with the connection; the layer forgets it on reconnect

    async def disconnect(self, code: int) -> None:
        await self._release()

    async def _release(self) -> None:
        """Leave every group, presence and lease of this socket; once, whoever calls first."""
        if not hasattr(self, "channels") or getattr(self, "released", False):
            return  # refused before it began, or released already
        self.released = True
        if self.counted is not None:
            self.counted.dec()
        follows = list(self.channels.values())
        self.channels = {}
        for follow in follows:
            await self._end(follow)
        if self.own is not None:
            await self._end(self.own)
        if self.lease_key:
            try:
                await self.leases.release(self.channel_name)
            except (RedisError, OSError):
                pass  # the lease runs out by itself

    async def _end(self, follow: Follow) -> None:
        self.sweep.discard(follow.stream, follow)
        if follow.catching_up is not None:
            follow.catching_up.cancel()
        await self._leave(follow.stream.group)
        if follow.stream.channel is not None and self.own is not None:
            declared, _ = namespaces.parse(follow.stream.channel)
            if declared.presence:
                try:
                    await self.leases.leave(self._member(follow.stream))
                except (RedisError, OSError):
                    self.leases.forget(self._member(follow.stream))  # the lease runs out by itself

    def _member(self, stream: Stream) -> Member:
        return Member(stream, self.channel_name, int(self.user.pk), self.user.get_username())

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if not self._within_rate():
            metrics.CLOSED_FLOOD.inc()
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
        elif kind == "subscribe":
            await self._subscribe(frame.get("channel"), frame.get("after"), frame.get("epoch"))
        elif kind == "unsubscribe":
            await self._unsubscribe(frame.get("channel"))
        elif self.own is None:
            await self.send(
                text_data=protocol.error("bad_resume", "a socket without credentials has no stream")
            )
        else:
            metrics.replays.inc()
            async with self.sending:
                await self._replay(self.own, frame["after"], frame.get("epoch"))

    async def _subscribe(self, channel: object, after: int | None, epoch: str | None) -> None:
        try:
            declared, stream = namespaces.parse(channel)
        except namespaces.ChannelError as exc:
            await self.send(text_data=protocol.channel_error(exc.code, channel, exc.detail))
            return
        assert isinstance(channel, str)
        if channel not in self.channels and len(self.channels) >= self.settings.max_subscriptions:
            limit = self.settings.max_subscriptions
            detail = f"a socket may follow {limit} channels (REALTIME_MAX_SUBSCRIPTIONS)"
            await self.send(text_data=protocol.channel_error("too_many_subscriptions", channel, detail))
            return
        try:
            await self._follow(declared, stream, channel, after, epoch)
        except (RedisError, OSError, DatabaseError) as exc:
            logger.warning("subscribing to %s failed: %r", channel, exc)
            follow = self.channels.pop(channel, None)
            if follow is not None:
                await self._end(follow)
            else:
                await self._leave(stream.group)  # joined, perhaps, then failed
            await self.send(text_data=protocol.channel_error("unavailable", channel, "try again shortly"))

    async def _follow(
        self,
        declared: namespaces.Namespace,
        stream: Stream,
        channel: str,
        after: int | None,
        epoch: str | None,
    ) -> None:
        follow = self.channels.get(channel)
        if follow is None:
            if not await database_sync_to_async(namespaces.may_read)(self.user, channel):
                await self.send(text_data=protocol.channel_error("forbidden", channel, "you may not read it"))
                return
            if not await self._join(stream.group):
                await self.send(text_data=protocol.channel_error("unavailable", channel, "try again shortly"))
                return
            follow = Follow(self, stream)
        async with self.sending:
            latest, current = (await aheads([stream]))[0]
            if channel not in self.channels or after is None:
                follow.sent, follow.epoch = latest, current  # from now on, unless it resumes
            if channel not in self.channels:
                self.channels[channel] = follow
                self.sweep.add(stream, follow)
                if declared.presence and self.own is not None:
                    await self.leases.join(self._member(stream))
            await self.send(text_data=protocol.subscribed(channel, latest, current))
            if after is not None:
                metrics.replays.inc()
                await self._replay(follow, after, epoch)

    async def _unsubscribe(self, channel: object, reason: str | None = None) -> None:
        follow = self.channels.pop(channel, None) if isinstance(channel, str) else None
        if follow is None:
            if reason is None:
                detail = "this socket does not follow it"
                await self.send(text_data=protocol.channel_error("not_subscribed", channel, detail))
            return
        await self._end(follow)
        await self.send(text_data=protocol.unsubscribed(follow.stream.channel or "", reason))

    def _within_rate(self) -> bool:
        """A token bucket: ``client_rate`` frames per second, bursts of ``client_burst``."""
        now = time.monotonic()
        refill = (now - self.allowance_at) * self.settings.client_rate
        self.allowance = min(float(self.settings.client_burst), self.allowance + refill) - 1
        self.allowance_at = now
        return self.allowance >= 0

    async def realtime_event(self, message: dict[str, Any]) -> None:
        channel = message.get("channel")
        follow = self.own if channel is None else self.channels.get(channel)
        if follow is None:
            return  # an event of a channel this socket just left
        seq = message["seq"]
        if message["epoch"] == follow.epoch and seq <= follow.sent:
            return
        async with self.sending:
            if message["epoch"] != follow.epoch or seq > follow.sent + 1:
                # Another epoch: the stream tells whether it is new (resync) or this frame
                # is older than what the socket already follows. A hole: the stream fills it.
                metrics.GAP_LIVE.inc()
                await self._replay(follow, follow.sent, follow.epoch)
                return
            if seq <= follow.sent:
                return
            follow.sent = seq
            await self.send(text_data=message["frame"])
        published_ms = message.get("t")  # absent from a relay of an older Coucou
        if published_ms is not None:
            _observe_latency(max(0.0, time.time() - published_ms / 1000))

    async def realtime_transient(self, message: dict[str, Any]) -> None:
        # Not numbered: relayed as it comes, in the order the user's group delivers it
        # (realtime/transient.py). Only to the user's own sockets, which always have a stream.
        if self.own is not None:
            await self.send(text_data=message["frame"])

    async def realtime_presence(self, message: dict[str, Any]) -> None:
        # Usernames, for signed-in readers only, as GET /api/realtime/presence/... is.
        if self.own is not None and message["channel"] in self.channels:
            await self.send(text_data=message["frame"])

    async def realtime_kick(self, message: dict[str, Any]) -> None:
        await self._unsubscribe(message["channel"], reason="kicked")

    async def catch_up(self, follow: Follow) -> None:
        try:
            async with self.sending:
                if follow is self.own or self.channels.get(follow.stream.channel or "") is follow:
                    metrics.GAP_SWEEP.inc()
                    await self._replay(follow, follow.sent, follow.epoch)
        except (RedisError, OSError):
            pass  # Redis is restarting: the next sweep tries again

    async def _replay(self, follow: Follow, after: int, epoch: str | None = None) -> None:
        """Send every retained event of the stream after ``after`` in ``epoch`` (None: the
        current one); ``resync`` first if the epoch is not the stream's, or some events are gone.

        The caller holds ``self.sending``.
        """
        unsent = 0  # bytes handed to daphne since it last drained
        limits = self.settings.slow_reader
        stream = follow.stream
        history = await aread_stream(stream, after, self.settings.replay_batch, epoch)
        if history.resync:
            metrics.resyncs.inc()
            await self.send(text_data=protocol.resync(history.latest, history.epoch, after, stream.channel))
            follow.sent = history.start  # the socket follows the new epoch from its start
        follow.epoch, cursor = history.epoch, history.start
        while True:
            for seq, frame in history.frames:
                await self.send(text_data=frame.decode())
                follow.sent = max(follow.sent, seq)
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
                        metrics.CLOSED_SLOW.inc()
                        await self.close(code=protocol.CLOSE_SLOW_READER)
                        return
                    unsent = 0
            if len(history.frames) < self.settings.replay_batch:
                return
            history = await aread_stream(stream, cursor, self.settings.replay_batch, follow.epoch)
            if history.resync:  # the epoch changed in the middle of the replay
                metrics.resyncs.inc()
                await self.send(
                    text_data=protocol.resync(history.latest, history.epoch, cursor, stream.channel)
                )
                follow.epoch, follow.sent = history.epoch, history.start


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
