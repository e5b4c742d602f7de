"""Per-user event numbering, history and relay, with an epoch that says which history it is.

One Lua script does the whole publish atomically, in one round trip: it takes the user's
next ``seq``, appends the event to the user's stream (trimmed by length and age), and
PUBLISHes it on the user's channel-layer group. Because the three happen together inside
Redis, ``seq`` is contiguous per user and live frames leave Redis in ``seq`` order, whatever
number of workers and web processes publish at once.

The epoch names one unbroken history of a stream. It changes when the stream's head is
missing (Redis restarted empty, the keys were flushed or evicted) and when the stream was
last checked under another Redis process (a restart from an older snapshot, a failover to a
replica that lagged): every connection records the run_id of the process it reached before
its first command (realtime/redis.py), so no command ever runs against a rewound stream
under the old epoch. A seq is only meaningful with its epoch; a client that resumes with
another epoch, or a seq the stream never reached, gets ``resync``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from realtime import conf
from realtime.groups import RUN_KEY, Stream, pubsub_channel, user_stream
from realtime.redis import async_client, script, sync_client

RELAY_MESSAGE_TYPE = "realtime.event"

# current(): the stream's head as (latest seq, epoch, base), starting a new epoch when the head
# is missing or was checked under another Redis process. KEYS: run key, head, events.
_HEAD_LUA = """
local function current(run_key, head_key, events_key, candidate)
  local run = redis.call('GET', run_key)
  if not run then
    run = string.match(redis.call('INFO', 'server'), 'run_id:(%x+)')
    redis.call('SET', run_key, run)
  end
  local h = redis.call('HMGET', head_key, 's', 'e', 'r', 'b')
  if h[2] and h[3] == run then return tonumber(h[1]), h[2], tonumber(h[4]) end
  local seq = 0
  if h[2] then
    seq = tonumber(h[1])
    -- Seqs stay above every id the stream has held, whatever the head says.
    if redis.call('EXISTS', events_key) == 1 then
      local info = redis.call('XINFO', 'STREAM', events_key)
      for i = 1, #info, 2 do
        if info[i] == 'last-generated-id' then
          seq = math.max(seq, tonumber(string.match(info[i + 1], '^%d+')))
        end
      end
    end
  else
    redis.call('DEL', events_key)  -- a history without its head belongs to a lost epoch
  end
  redis.call('HSET', head_key, 's', seq, 'e', candidate, 'r', run, 'b', seq)
  return seq, candidate, seq
end
"""

_PUBLISH_LUA = (
    _HEAD_LUA
    + """
local function append()
  local _, epoch = current(KEYS[1], KEYS[2], KEYS[3], ARGV[7])
  local seq = redis.call('HINCRBY', KEYS[2], 's', 1)
  local frame = '{"seq":' .. seq .. ',"epoch":"' .. epoch .. '",' .. string.sub(ARGV[1], 2)
  local added = redis.pcall('XADD', KEYS[3], 'MAXLEN', '~', ARGV[2], seq .. '-0', 't', ARGV[4], 'f', frame)
  return seq, epoch, frame, type(added) == 'table' and added.err
end
local seq, epoch, frame, failed = append()
if failed then
  -- The stream holds ids past its head (an older Coucou writing the same keys during an
  -- upgrade, a key restored by hand): a new epoch, numbered above them.
  redis.call('HSET', KEYS[2], 'r', '')
  seq, epoch, frame, failed = append()
  if failed then return redis.error_reply(failed) end
end
local now = tonumber(ARGV[4])
local cutoff = now - tonumber(ARGV[5])
local first = redis.call('XRANGE', KEYS[3], '-', '+', 'COUNT', 1)[1]
if first and tonumber(first[2][2]) < cutoff then
  local batch = redis.call('XRANGE', KEYS[3], '-', '+', 'COUNT', 256)
  local minid = nil
  for _, entry in ipairs(batch) do
    if tonumber(entry[2][2]) >= cutoff then minid = entry[1]; break end
  end
  if minid == nil then
    minid = (tonumber(string.match(batch[#batch][1], '^%d+')) + 1) .. '-0'
  end
  redis.call('XTRIM', KEYS[3], 'MINID', minid)
end
redis.call('PEXPIRE', KEYS[3], ARGV[5])
-- t: the publish time in ms, for the publish-to-send latency (realtime/metrics.py).
local relayed = {type=ARGV[6], seq=seq, epoch=epoch, frame=frame, t=now}
if ARGV[8] ~= '' then relayed.channel = ARGV[8] end
redis.call('PUBLISH', ARGV[3], cmsgpack.pack(relayed))
return seq
"""
)

# Read from ``after`` when the client's epoch (ARGV[2], '' for none) is the stream's and the
# seq is one the epoch reached; otherwise from the epoch's start, for a resync.
_READ_LUA = (
    _HEAD_LUA
    + """
local latest, epoch, base = current(KEYS[1], KEYS[2], KEYS[3], ARGV[4])
local after = tonumber(ARGV[1])
local from, lost = after, 0
if (ARGV[2] ~= '' and ARGV[2] ~= epoch) or after > latest or after < base then from, lost = base, 1 end
local start = '-'
if from > 0 then start = '(' .. from .. '-0' end
return {latest, epoch, from, lost, redis.call('XRANGE', KEYS[3], start, '+', 'COUNT', ARGV[3])}
"""
)

# The heads of many users at once, for the sweep. KEYS: run key, then head and events per user.
_HEADS_LUA = (
    _HEAD_LUA
    + """
local out = {}
for i = 2, #KEYS, 2 do
  local latest, epoch = current(KEYS[1], KEYS[i], KEYS[i + 1], ARGV[1] .. string.format('%04x', i))
  out[#out + 1] = latest
  out[#out + 1] = epoch
end
return out
"""
)


def new_epoch() -> str:
    return os.urandom(6).hex()


def _keys(stream: Stream) -> list[str]:
    return [RUN_KEY, stream.head, stream.events]


def _now() -> tuple[int, str]:
    now = datetime.now(UTC)
    return int(now.timestamp() * 1000), now.isoformat(timespec="milliseconds")[:-6] + "Z"


def publish(user_id: int, type: str, data: dict[str, Any] | None = None, *, job: str | None = None) -> int:
    """Number, store and relay one event for one user; return its ``seq``.

    Synchronous and cheap: one EVALSHA on the process's pooled connection, no event loop.
    ``data`` must be JSON-serializable.
    """
    settings = conf.get()
    return append(
        user_stream(user_id),
        {"type": type, "job": job, "data": data or {}},
        maxlen=settings.stream_maxlen,
        max_age_s=settings.stream_max_age_s,
    )


def append(stream: Stream, event: dict[str, Any], *, maxlen: int, max_age_s: int) -> int:
    """Number, store (``maxlen`` events, ``max_age_s`` seconds) and relay one event of a stream.

    ``event`` holds type, job and data; ``channel`` and ``ts`` are added here.
    """
    settings = conf.get()
    now_ms, ts = _now()
    if stream.channel is None:
        body = orjson.dumps({"type": event["type"], "job": event["job"], "ts": ts, "data": event["data"]})
    else:
        body = orjson.dumps({"channel": stream.channel, **event, "ts": ts})
    seq = script(sync_client(), _PUBLISH_LUA)(
        keys=_keys(stream),
        args=[
            body,
            maxlen,
            pubsub_channel(stream.group, settings.channel_prefix),
            now_ms,
            max_age_s * 1000,
            RELAY_MESSAGE_TYPE,
            new_epoch(),
            stream.channel or "",
        ],
    )
    return int(seq)


@dataclass(frozen=True)
class History:
    """What a user's stream holds after a given seq, in which epoch."""

    latest: int  # the user's newest seq
    epoch: str  # the stream's epoch: a seq means something only with it
    start: int  # the seq the frames follow: the asked-for one, or the epoch's start on resync
    frames: list[tuple[int, bytes]]  # (seq, JSON frame) in order
    resync: bool  # the client's history is not this one, or events after it are gone: refetch

    @property
    def last_seq(self) -> int | None:
        return self.frames[-1][0] if self.frames else None


def _history(reply: list[Any]) -> History:
    latest, epoch, start, lost, entries = reply
    # Each entry is [id, ["t", ms, "f", frame]], as XADD wrote it (Redis 6 answers COUNT 0 with nil).
    frames = [(int(entry_id.split(b"-", 1)[0]), fields[3]) for entry_id, fields in entries or ()]
    # Another epoch, a seq this epoch never reached, or events after it trimmed away.
    resync = bool(lost) or (frames[0][0] > start + 1 if frames else latest > start)
    return History(latest=int(latest), epoch=epoch.decode(), start=int(start), frames=frames, resync=resync)


def _read_args(after: int, epoch: str | None, limit: int) -> list[Any]:
    return [after, epoch or "", limit, new_epoch()]


def read_after(user_id: int, after: int, limit: int, epoch: str | None = None) -> History:
    """The user's events after ``after`` in ``epoch`` (None: whichever is current), up to ``limit``."""
    return read_stream(user_stream(user_id), after, limit, epoch)


def read_stream(stream: Stream, after: int, limit: int, epoch: str | None = None) -> History:
    reply = script(sync_client(), _READ_LUA)(keys=_keys(stream), args=_read_args(after, epoch, limit))
    return _history(reply)


async def aread_after(user_id: int, after: int, limit: int, epoch: str | None = None) -> History:
    return await aread_stream(user_stream(user_id), after, limit, epoch)


async def aread_stream(stream: Stream, after: int, limit: int, epoch: str | None = None) -> History:
    client = async_client()
    reply = await script(client, _READ_LUA)(keys=_keys(stream), args=_read_args(after, epoch, limit))
    return _history(reply)


async def aheads(streams: list[Stream]) -> list[tuple[int, str]]:
    """(latest seq, epoch) of each stream, in order: one round trip."""
    keys = [RUN_KEY]
    for stream in streams:
        keys += [stream.head, stream.events]
    client = async_client()
    flat = await script(client, _HEADS_LUA)(keys=keys, args=[os.urandom(4).hex()])
    return [(int(flat[i]), flat[i + 1].decode()) for i in range(0, len(flat), 2)]
