"""Who is on a channel, and how many sockets a user or an IP holds, across every web process.

Both are leases in Redis that the web process holding the socket renews: a socket that ends
gives its leases back, and the leases of a process that was killed run out after
``REALTIME_PRESENCE_TTL_S``. One task per event loop renews this process's leases every third
of the TTL and ends the expired presence of every channel (whichever process gets there
first: the scripts are atomic, so each ``presence.leave`` is sent once). A user killed with
their web process is gone from ``GET /api/realtime/presence/{channel}`` at once when the TTL
passes (it only counts unexpired leases) and leaves the sockets within 4/3 of the TTL.

Keys of a channel (its hash tag): ``present`` (user id -> latest lease end), ``names`` (user
id -> username), ``p:<user id>`` (socket -> lease end); ``coucou:presence:channels`` lists
the channels with someone present. Sockets: ``coucou:sockets:u<id>`` and ``:ip:<address>``.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from dataclasses import dataclass
from typing import Any

import msgpack
import orjson
from redis.exceptions import RedisError

from realtime import conf
from realtime.groups import Stream, pubsub_channel
from realtime.namespaces import ChannelError, parse
from realtime.redis import async_client, script, sync_client

logger = logging.getLogger(__name__)

PRESENCE_MESSAGE_TYPE = "realtime.presence"
CHANNELS_KEY = "coucou:presence:channels"

# KEYS: per entry (conns of the user, present, names), then CHANNELS_KEY last.
# ARGV: lease end (ms), now (ms), then per entry (socket, user id, username, channel, pubsub
# channel, join message). A user who was not present (or whose lease ran out) joins.
_JOIN_LUA = """
local ends, now, index = ARGV[1], tonumber(ARGV[2]), KEYS[#KEYS]
local joined = 0
for i = 1, #KEYS - 1, 3 do
  local a = 3 + (i - 1) / 3 * 6
  local conns, present, names = KEYS[i], KEYS[i + 1], KEYS[i + 2]
  redis.call('ZADD', conns, ends, ARGV[a])
  redis.call('PEXPIREAT', conns, ends + 60000)
  local was = redis.call('ZSCORE', present, ARGV[a + 1])
  redis.call('ZADD', present, 'GT', ends, ARGV[a + 1])
  redis.call('HSET', names, ARGV[a + 1], ARGV[a + 2])
  redis.call('SADD', index, ARGV[a + 3])
  if not was or tonumber(was) < now then
    redis.call('PUBLISH', ARGV[a + 4], ARGV[a + 5])
    joined = joined + 1
  end
end
return joined
"""

# KEYS: conns of the user, present, names. ARGV: socket, user id, now (ms), pubsub, leave message.
_LEAVE_LUA = """
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if #last > 0 then
  redis.call('ZADD', KEYS[2], last[2], ARGV[2])
  return 0
end
redis.call('DEL', KEYS[1])
if redis.call('ZREM', KEYS[2], ARGV[2]) == 0 then return 0 end
redis.call('HDEL', KEYS[3], ARGV[2])
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1
"""

# KEYS: present, names, CHANNELS_KEY. ARGV: now (ms), conns key prefix, channel, pubsub.
_REAP_LUA = """
local now = tonumber(ARGV[1])
local left = 0
for _, uid in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. now)) do
  local conns = ARGV[2] .. uid
  redis.call('ZREMRANGEBYSCORE', conns, '-inf', now)
  local last = redis.call('ZRANGE', conns, -1, -1, 'WITHSCORES')
  if #last > 0 then
    redis.call('ZADD', KEYS[1], last[2], uid)
  else
    redis.call('ZREM', KEYS[1], uid)
    local name = redis.call('HGET', KEYS[2], uid) or ''
    redis.call('HDEL', KEYS[2], uid)
    local frame = cjson.encode({channel=ARGV[3], type='presence.leave',
                                data={user={id=tonumber(uid), username=name}}})
    redis.call('PUBLISH', ARGV[4], cmsgpack.pack({type='realtime.presence', channel=ARGV[3], frame=frame}))
    left = left + 1
  end
end
if redis.call('ZCARD', KEYS[1]) == 0 then redis.call('SREM', KEYS[3], ARGV[3]) end
return left
"""

# KEYS: the socket counter. ARGV: socket, lease end (ms), now (ms), limit. 1 if admitted.
_ACQUIRE_LUA = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
if redis.call('ZSCORE', KEYS[1], ARGV[1]) == false and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
return 1
"""

# KEYS: socket counters. ARGV: lease end (ms), then one socket per key. Only leases still
# held are extended: one given back meanwhile stays given back.
_RENEW_LUA = """
for i, key in ipairs(KEYS) do
  if redis.call('ZADD', key, 'XX', 'CH', ARGV[1], ARGV[i + 1]) == 1 then
    redis.call('PEXPIREAT', key, ARGV[1])
  end
end
return #KEYS
"""

# KEYS: per entry (conns of the user, present). ARGV: lease end (ms), then one socket per
# entry. Extends the leases still held; returns the 1-based entries whose lease was gone
# (reaped after a stall: the caller joins them again if their socket still follows).
_RENEW_PRESENCE_LUA = """
local missing = {}
for i = 1, #KEYS, 2 do
  local n = (i + 1) / 2
  if redis.call('ZADD', KEYS[i], 'XX', 'CH', ARGV[1], ARGV[n + 1]) == 1 then
    redis.call('PEXPIREAT', KEYS[i], ARGV[1] + 60000)
    redis.call('ZADD', KEYS[i + 1], 'GT', ARGV[1], string.match(KEYS[i], ':p:(%d+)$'))
  else
    missing[#missing + 1] = n
  end
end
return missing
"""


def user_sockets_key(user_id: int) -> str:
    return f"coucou:sockets:u{int(user_id)}"


def ip_sockets_key(address: str) -> str:
    return f"coucou:sockets:ip:{address}"


def _ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True, slots=True)
class Member:
    """One socket present on one channel."""

    stream: Stream
    socket: str  # the consumer's channel name: unique per socket
    user_id: int
    username: str

    @property
    def conns(self) -> str:
        return self.stream.key(f"p:{self.user_id}")


def _message(stream: Stream, kind: str, user_id: int, username: str) -> bytes:
    frame = orjson.dumps(
        {"channel": stream.channel, "type": kind, "data": {"user": {"id": user_id, "username": username}}}
    ).decode()
    return bytes(msgpack.packb({"type": PRESENCE_MESSAGE_TYPE, "channel": stream.channel, "frame": frame}))


class Leases:
    """This event loop's sockets and presence, renewed while they last."""

    def __init__(self, ttl_s: float) -> None:
        self.ttl_ms = int(ttl_s * 1000)
        self.sockets: dict[str, str] = {}  # socket -> its counter key
        self.members: dict[tuple[str, str], Member] = {}  # (socket, channel) -> member
        self.task: asyncio.Task[None] | None = None

    def _start(self) -> None:
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run(), name="coucou-leases")

    # --- sockets per user and per IP ----------------------------------------------------
    async def acquire(self, key: str, socket: str, limit: int) -> bool:
        now = _ms()
        admitted = await script(async_client(), _ACQUIRE_LUA)(
            keys=[key], args=[socket, now + self.ttl_ms, now, limit]
        )
        if admitted:
            self.sockets[socket] = key
            self._start()
        return bool(admitted)

    async def release(self, socket: str) -> None:
        key = self.sockets.pop(socket, None)
        if key is not None:
            await async_client().zrem(key, socket)

    # --- presence -------------------------------------------------------------------------
    async def join(self, member: Member) -> None:
        self.members[(member.socket, member.stream.tag)] = member
        self._start()
        await self._join([member])

    def forget(self, member: Member) -> None:
        """Stop renewing ``member``: its lease runs out, and some process sends its leave."""
        self.members.pop((member.socket, member.stream.tag), None)

    async def leave(self, member: Member) -> None:
        self.forget(member)
        prefix = conf.get().channel_prefix
        await script(async_client(), _LEAVE_LUA)(
            keys=[member.conns, member.stream.key("present"), member.stream.key("names")],
            args=[
                member.socket,
                member.user_id,
                _ms(),
                pubsub_channel(member.stream.group, prefix),
                _message(member.stream, "presence.leave", member.user_id, member.username),
            ],
        )

    async def _join(self, members: list[Member]) -> None:
        prefix = conf.get().channel_prefix
        keys: list[str] = []
        args: list[Any] = []
        now = _ms()
        for m in members:
            keys += [m.conns, m.stream.key("present"), m.stream.key("names")]
            args += [
                m.socket,
                m.user_id,
                m.username,
                m.stream.channel,
                pubsub_channel(m.stream.group, prefix),
                _message(m.stream, "presence.join", m.user_id, m.username),
            ]
        await script(async_client(), _JOIN_LUA)(
            keys=[*keys, CHANNELS_KEY], args=[now + self.ttl_ms, now, *args]
        )

    # --- renewal ----------------------------------------------------------------------------
    async def _run(self) -> None:
        while self.sockets or self.members:
            await asyncio.sleep(self.ttl_ms / 3000)
            try:
                await self.renew_once()
                await reap_once()
            except (RedisError, OSError) as exc:
                logger.warning("renewing presence and socket leases failed, retrying: %s", exc)

    async def renew_once(self) -> None:
        ends = _ms() + self.ttl_ms
        sockets = list(self.sockets.items())
        for start in range(0, len(sockets), 500):
            chunk = [(s, key) for s, key in sockets[start : start + 500] if s in self.sockets]
            if chunk:
                await script(async_client(), _RENEW_LUA)(
                    keys=[key for _, key in chunk], args=[ends, *(s for s, _ in chunk)]
                )
        members = list(self.members.items())
        for start in range(0, len(members), 500):
            entries = [(k, m) for k, m in members[start : start + 500] if k in self.members]
            if not entries:
                continue
            keys: list[str] = []
            for _, m in entries:
                keys += [m.conns, m.stream.key("present")]
            missing = await script(async_client(), _RENEW_PRESENCE_LUA)(
                keys=keys, args=[ends, *(m.socket for _, m in entries)]
            )
            # Still followed, but reaped while this process stalled: present again.
            rejoin = [entries[n - 1][1] for n in missing if entries[n - 1][0] in self.members]
            if rejoin:
                await self._join(rejoin)


async def reap_once() -> int:
    """End the expired presence on every channel; the number of users who left."""
    client = async_client()
    prefix = conf.get().channel_prefix
    left = 0
    for raw in await client.smembers(CHANNELS_KEY):
        channel = raw.decode() if isinstance(raw, bytes) else str(raw)
        try:
            _, stream = parse(channel)
        except ChannelError:
            await client.srem(CHANNELS_KEY, raw)  # a namespace that is no longer declared
            continue
        left += await script(client, _REAP_LUA)(
            keys=[stream.key("present"), stream.key("names"), CHANNELS_KEY],
            args=[_ms(), stream.key("p:"), channel, pubsub_channel(stream.group, prefix)],
        )
    return left


def present(stream: Stream) -> list[dict[str, Any]]:
    """The users with an unexpired lease on the channel, by id."""
    client = sync_client()
    ids: list[bytes] = list(client.zrangebyscore(stream.key("present"), f"({_ms()}", "+inf"))  # type: ignore[arg-type]
    if not ids:
        return []
    names: list[bytes | None] = client.hmget(stream.key("names"), ids)  # type: ignore[assignment]
    users = [
        {"id": int(uid), "username": (name or b"").decode()} for uid, name in zip(ids, names, strict=True)
    ]
    return sorted(users, key=lambda user: user["id"])


_leases: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Leases] = weakref.WeakKeyDictionary()


def leases_for_loop(ttl_s: float) -> Leases:
    loop = asyncio.get_running_loop()
    leases = _leases.get(loop)
    if leases is None:
        leases = _leases[loop] = Leases(ttl_s)
    return leases
