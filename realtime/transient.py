"""Frames for every socket of one user that are not events: not numbered, not stored, not replayed.

``send_transient(user_id, type, data)`` relays ``{"type": type, **data}`` live to the user's
sockets, in the order of the calls, at most once (the live path drops under load, and a
socket that is not connected at that moment never gets it). It is for data whose owner keeps
its own retention and lets clients fetch what they missed: a job's streamed output is one
(jobs/output.py). Nothing here is about jobs: a type and a JSON-serializable dict.
"""

from __future__ import annotations

from typing import Any

import msgpack
import orjson

from realtime import conf
from realtime.groups import pubsub_channel_for
from realtime.redis import sync_client

TRANSIENT_MESSAGE_TYPE = "realtime.transient"
# The user's numbered stream owns these types: a transient frame may not pass for one of them.
_RESERVED = frozenset({"hello", "resync", "pong", "error", "subscribed", "unsubscribed"})


def transient_message(type: str, data: dict[str, Any]) -> bytes:
    """The channel layer's message carrying one transient frame (a relay of the pub/sub layer)."""
    if type in _RESERVED or "seq" in data or "channel" in data or "type" in data:
        raise ValueError(f"a transient frame may not be a {type!r} frame, nor carry seq, channel or type")
    frame = orjson.dumps({"type": type, **data}).decode()
    return bytes(msgpack.packb({"type": TRANSIENT_MESSAGE_TYPE, "frame": frame}))


def send_transient(user_id: int, type: str, data: dict[str, Any]) -> int:
    """Relay ``{"type": type, **data}`` to every socket of the user now; the number of web
    processes that heard it (Redis' PUBLISH count). One synchronous PUBLISH, no event loop."""
    channel = pubsub_channel_for(user_id, conf.get().channel_prefix)
    return int(sync_client().publish(channel, transient_message(type, data)))
