"""Per-user event numbering, history and relay.

One Lua script does the whole publish atomically, in one round trip: it takes the user's
next ``seq``, appends the event to the user's stream (trimmed by length and age), and
PUBLISHes it on the user's channel-layer group. Because the three happen together inside
Redis, ``seq`` is contiguous per user and live frames leave Redis in ``seq`` order, whatever
number of workers and web processes publish at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from realtime import conf
from realtime.groups import pubsub_channel_for, seq_key, stream_key
from realtime.redis import async_client, script, sync_client

RELAY_MESSAGE_TYPE = "realtime.event"

_PUBLISH_LUA = """
local seq = redis.call('INCR', KEYS[1])
local frame = '{"seq":' .. seq .. ',' .. string.sub(ARGV[1], 2)
local now = tonumber(ARGV[4])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], seq .. '-0', 't', ARGV[4], 'f', frame)
local cutoff = now - tonumber(ARGV[5])
local first = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)[1]
if first and tonumber(first[2][2]) < cutoff then
  local batch = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 256)
  local minid = nil
  for _, entry in ipairs(batch) do
    if tonumber(entry[2][2]) >= cutoff then minid = entry[1]; break end
  end
  if minid == nil then
    minid = (tonumber(string.match(batch[#batch][1], '^%d+')) + 1) .. '-0'
  end
  redis.call('XTRIM', KEYS[2], 'MINID', minid)
end
redis.call('PEXPIRE', KEYS[2], ARGV[5])
redis.call('PUBLISH', ARGV[3], cmsgpack.pack({type=ARGV[6], seq=seq, frame=frame}))
return seq
"""


def _now() -> tuple[int, str]:
    now = datetime.now(UTC)
    return int(now.timestamp() * 1000), now.isoformat(timespec="milliseconds")[:-6] + "Z"


def publish(user_id: int, type: str, data: dict[str, Any] | None = None, *, job: str | None = None) -> int:
    """Number, store and relay one event for one user; return its ``seq``.

    Synchronous and cheap: one EVALSHA on the process's pooled connection, no event loop.
    ``data`` must be JSON-serializable.
    """
    settings = conf.get()
    now_ms, ts = _now()
    body = orjson.dumps({"type": type, "job": job, "ts": ts, "data": data or {}})
    seq = script(sync_client(), _PUBLISH_LUA)(
        keys=[seq_key(user_id), stream_key(user_id)],
        args=[
            body,
            settings.stream_maxlen,
            pubsub_channel_for(user_id, settings.channel_prefix),
            now_ms,
            settings.stream_max_age_s * 1000,
            RELAY_MESSAGE_TYPE,
        ],
    )
    return int(seq)


@dataclass(frozen=True)
class History:
    """What a user's stream holds after a given seq."""

    latest: int  # the user's newest seq
    frames: list[tuple[int, bytes]]  # (seq, JSON frame) in order
    resync: bool  # events after the asked-for seq are gone: the client must refetch state

    @property
    def last_seq(self) -> int | None:
        return self.frames[-1][0] if self.frames else None


def _range_start(after: int) -> str:
    return f"({after}-0" if after > 0 else "-"


def _history(after: int, latest_raw: bytes | None, entries: list[Any]) -> History:
    latest = int(latest_raw or 0)
    frames = [(int(entry_id.split(b"-", 1)[0]), fields[b"f"]) for entry_id, fields in entries]
    # Resync when events after ``after`` are gone, or when the client is ahead of the server:
    # it saw numbers that no longer exist (Redis lost its data).
    resync = (frames[0][0] > after + 1 if frames else latest > after) or after > latest
    return History(latest=latest, frames=frames, resync=resync)


def read_after(user_id: int, after: int, limit: int) -> History:
    pipe = sync_client().pipeline(transaction=True)
    pipe.get(seq_key(user_id))
    pipe.xrange(stream_key(user_id), _range_start(after), "+", count=limit)
    latest_raw, entries = pipe.execute()
    return _history(after, latest_raw, entries)


async def aread_after(user_id: int, after: int, limit: int) -> History:
    async with async_client().pipeline(transaction=True) as pipe:
        pipe.get(seq_key(user_id))
        pipe.xrange(stream_key(user_id), _range_start(after), "+", count=limit)
        latest_raw, entries = await pipe.execute()
    return _history(after, latest_raw, entries)


async def alatest_seq(user_id: int) -> int:
    return int(await async_client().get(seq_key(user_id)) or 0)
