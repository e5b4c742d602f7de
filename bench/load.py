"""A worker-like publisher process that offers events at a paced rate.

``python -m bench.load coucou`` publishes with ``realtime.publish`` (what jobs use: one
synchronous EVALSHA per event); ``python -m bench.load core|pubsub`` publishes with
``channel_layer.group_send`` on one long-lived event loop, as a well-written seed would.
Commands come one JSON line at a time on stdin: ``init`` (the users, by socket index), then
``run`` (rate, duration), each answered with one JSON line: how many were sent, over how
long, and the first and last seq each user got.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

Ranges = dict[int, list[int]]
AHEAD_S = 0.0005  # sleep only when ahead of schedule by more than this


class Pacer:
    """Spreads ``rate * duration`` sends evenly over ``duration``, catching up when late."""

    def __init__(self, rate: float, duration: float) -> None:
        self.total = max(1, round(rate * duration))
        self.interval = 1.0 / rate
        self.start = time.monotonic()

    def wait_s(self, k: int) -> float:
        ahead = self.start + k * self.interval - time.monotonic()
        return ahead if ahead > AHEAD_S else 0.0

    def elapsed(self) -> float:
        return time.monotonic() - self.start


class Publisher:
    def __init__(self) -> None:
        self.users: list[tuple[int, int]] = []  # (socket index, user id)
        self.cursor = 0

    def init(self, users: list[list[int]]) -> dict[str, Any]:
        self.users = [(index, uid) for index, uid in users]
        return {"users": len(self.users)}

    def _next_user(self) -> tuple[int, int]:
        user = self.users[self.cursor % len(self.users)]
        self.cursor += 1
        return user


class CoucouPublisher(Publisher):
    def __init__(self) -> None:
        super().__init__()
        import django

        django.setup()
        from realtime import publish

        self.publish = publish

    def run(self, rate: float, duration: float) -> dict[str, Any]:
        pacer, ranges = Pacer(rate, duration), {}
        publish, clock = self.publish, time.monotonic_ns
        for k in range(pacer.total):
            if wait := pacer.wait_s(k):
                time.sleep(wait)
            index, uid = self._next_user()
            seq = publish(uid, "bench", {"t": clock()})
            _note(ranges, index, seq)
        return {"sent": pacer.total, "elapsed": pacer.elapsed(), "ranges": ranges}


class RelayPublisher(Publisher):
    """``group_send`` on one event loop that lives as long as the process."""

    def __init__(self) -> None:
        super().__init__()
        import django

        django.setup()
        from channels.layers import get_channel_layer

        self.layer = get_channel_layer()
        self.loop = asyncio.new_event_loop()
        self.seqs: dict[int, int] = {}

    def run(self, rate: float, duration: float) -> dict[str, Any]:
        return self.loop.run_until_complete(self._run(rate, duration))

    async def _run(self, rate: float, duration: float) -> dict[str, Any]:
        pacer, ranges = Pacer(rate, duration), {}
        group_send: Callable[[str, dict[str, Any]], Awaitable[None]] = self.layer.group_send
        clock = time.monotonic_ns
        for k in range(pacer.total):
            if wait := pacer.wait_s(k):
                await asyncio.sleep(wait)
            index, uid = self._next_user()
            seq = self.seqs[index] = self.seqs.get(index, 0) + 1
            event = {"seq": seq, "type": "bench", "data": {"t": clock()}}
            await group_send(f"user.{uid}", {"type": "relay.event", "event": event})
            _note(ranges, index, seq)
        return {"sent": pacer.total, "elapsed": pacer.elapsed(), "ranges": ranges}


def _note(ranges: Ranges, index: int, seq: int) -> None:
    span = ranges.get(index)
    if span is None:
        ranges[index] = [seq, seq]
    else:
        span[1] = seq


def main(kind: str) -> None:
    if kind == "coucou":
        os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
        publisher: Publisher = CoucouPublisher()
    else:
        os.environ["DJANGO_SETTINGS_MODULE"] = "bench.relay_settings"
        os.environ["BENCH_RELAY_LAYER"] = kind
        publisher = RelayPublisher()
    for line in sys.stdin:
        command = orjson.loads(line)
        name = command.pop("cmd")
        if name == "quit":
            break
        result = getattr(publisher, name)(**command)
        sys.stdout.buffer.write(orjson.dumps(result, option=orjson.OPT_NON_STR_KEYS) + b"\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1])
