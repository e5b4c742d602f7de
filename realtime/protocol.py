"""The socket protocol's control frames, built in one place."""

from __future__ import annotations

import json
import re
from typing import Any

# Close codes (documented in the README).
CLOSE_SLOW_READER = 4008  # the client stopped reading: reconnect with ?after=
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FLOOD = 4429  # too many frames, or too many sockets of this user or this IP
# Redis unreachable while joining: reconnect with backoff. Not 1013 (try again later): daphne
# (autobahn) lets a server close only with 1000 or 3000-4999, and raised on 1013.
CLOSE_TRY_AGAIN = 4013

# The largest seq a client may name: JavaScript's largest exact integer, far below the 64-bit
# limit of Redis stream ids.
MAX_SEQ = 2**53 - 1
# Epochs are opaque to clients; the server makes 12 hex digits. Anything else is refused.
EPOCH = re.compile(r"^[0-9a-f]{1,32}$")


def hello(latest: int | None, epoch: str | None) -> str:
    """The first frame; a socket without credentials has no stream of its own: seq and epoch null."""
    return json.dumps({"type": "hello", "seq": latest, "epoch": epoch})


def resync(latest: int, epoch: str, after: int, channel: str | None = None) -> str:
    """The events after ``after`` are not in this stream's history (epoch ``epoch``)."""
    frame: dict[str, Any] = {"type": "resync", "seq": latest, "epoch": epoch, "after": after}
    if channel is not None:
        frame["channel"] = channel
    return json.dumps(frame)


def subscribed(channel: str, latest: int, epoch: str) -> str:
    return json.dumps({"type": "subscribed", "channel": channel, "seq": latest, "epoch": epoch})


def unsubscribed(channel: str, reason: str | None = None) -> str:
    frame = {"type": "unsubscribed", "channel": channel}
    if reason is not None:
        frame["reason"] = reason
    return json.dumps(frame)


def channel_error(code: str, channel: object, detail: str) -> str:
    """An error about one channel; the socket stays open. ``channel`` is echoed if it is a string."""
    named = channel if isinstance(channel, str) and len(channel) <= 140 else None
    return json.dumps({"type": "error", "code": code, "channel": named, "detail": detail})


def valid_epoch(value: object) -> bool:
    return isinstance(value, str) and EPOCH.fullmatch(value) is not None


def pong() -> str:
    return '{"type":"pong"}'


def error(code: str, detail: str) -> str:
    return json.dumps({"type": "error", "code": code, "detail": detail})


def parse_client_frame(text: str, max_bytes: int) -> tuple[str, dict[str, Any]] | str:
    """Return (type, frame) for a valid client frame, or an error frame to send back."""
    if len(text.encode()) > max_bytes:
        return error("frame_too_large", f"client frames are limited to {max_bytes} bytes")
    try:
        frame = json.loads(text)
    except ValueError:
        return error("bad_json", "frames must be JSON objects")
    if not isinstance(frame, dict):
        return error("bad_json", "frames must be JSON objects")
    kind = frame.get("type")
    if kind == "ping":
        return kind, frame
    if kind in ("resume", "subscribe"):
        after = frame.get("after")
        if kind == "subscribe" and after is None:
            if frame.get("epoch") is not None:
                return error("bad_resume", "'epoch' goes with 'after'")
        elif isinstance(after, bool) or not isinstance(after, int) or not 0 <= after <= MAX_SEQ:
            return error("bad_resume", "'after' must be a non-negative integer seq")
        if frame.get("epoch") is not None and not valid_epoch(frame["epoch"]):
            return error("bad_resume", "'epoch' must be the epoch string the server sent")
    if kind in ("resume", "subscribe", "unsubscribe"):
        return kind, frame
    return error("unknown_type", "client frames are 'ping', 'resume', 'subscribe' or 'unsubscribe'")
