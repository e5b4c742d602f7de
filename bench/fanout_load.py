"""The fan-out benchmark's publisher: one broadcast channel, at a paced rate.

``python -m bench.fanout_load coucou`` publishes with ``realtime.publish_to("bench:all", ...)``
(one EVALSHA per broadcast: number, store, PUBLISH); ``core`` and ``pubsub`` send
``channel_layer.group_send("bench.all", ...)`` on one long-lived event loop, as a seed would.
One JSON command per line on stdin, one JSON answer per line on stdout: ``run`` (rate in
broadcasts/s, duration) answers the first and last seq sent; ``one`` sends one broadcast.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from typing import Any

import orjson

from bench.load import Pacer


class CoucouBroadcaster:
    def __init__(self) -> None:
        import django

        django.setup()
        from bench.fanout_realtime import CHANNEL
        from realtime import publish_to

        self.channel = CHANNEL
        self.publish_to = publish_to

    def send(self) -> int:
        return self.publish_to(self.channel, "bench", {"t": time.monotonic_ns()})

    def run(self, rate: float, duration: float) -> dict[str, Any]:
        pacer = Pacer(rate, duration)
        cpu = time.process_time()
        first = last = 0
        for k in range(pacer.total):
            if wait := pacer.wait_s(k):
                time.sleep(wait)
            last = self.send()
            first = first or last
        return _answer(pacer, first, last, cpu)

    def one(self) -> dict[str, Any]:
        return {"seq": self.send()}


class RelayBroadcaster:
    """``group_send`` to the one group, on an event loop that lives as long as the process."""

    def __init__(self) -> None:
        import django

        django.setup()
        from channels.layers import get_channel_layer

        from bench.fanout_relay import GROUP

        self.group = GROUP
        self.layer = get_channel_layer()
        self.loop = asyncio.new_event_loop()
        self.seq = 0

    async def _send(self) -> int:
        self.seq += 1
        event = {"seq": self.seq, "type": "bench", "data": {"t": time.monotonic_ns()}}
        await self.layer.group_send(self.group, {"type": "relay.event", "event": event})
        return self.seq

    async def _run(self, rate: float, duration: float) -> dict[str, Any]:
        pacer = Pacer(rate, duration)
        cpu = time.process_time()
        first = last = 0
        for k in range(pacer.total):
            if wait := pacer.wait_s(k):
                await asyncio.sleep(wait)
            last = await self._send()
            first = first or last
        return _answer(pacer, first, last, cpu)

    def run(self, rate: float, duration: float) -> dict[str, Any]:
        return self.loop.run_until_complete(self._run(rate, duration))

    def one(self) -> dict[str, Any]:
        return {"seq": self.loop.run_until_complete(self._send())}


def _answer(pacer: Pacer, first: int, last: int, cpu: float) -> dict[str, Any]:
    # The step lasts its whole duration, the last broadcast's interval too: sent / elapsed is
    # then the offered rate, even with a handful of broadcasts.
    rest = pacer.start + pacer.total * pacer.interval - time.monotonic()
    if rest > 0:
        time.sleep(rest)
    return {
        "sent": pacer.total,
        "elapsed": pacer.elapsed(),
        "first": first,
        "last": last,
        "cpu_ms_per_broadcast": round(1e3 * (time.process_time() - cpu) / pacer.total, 3),
    }


def main(kind: str) -> None:
    if kind == "coucou":
        os.environ["DJANGO_SETTINGS_MODULE"] = "bench.fanout_settings"
        publisher: CoucouBroadcaster | RelayBroadcaster = CoucouBroadcaster()
    else:
        os.environ["DJANGO_SETTINGS_MODULE"] = "bench.relay_settings"
        os.environ["BENCH_RELAY_LAYER"] = kind
        publisher = RelayBroadcaster()
    for line in sys.stdin:
        command = orjson.loads(line)
        name = command.pop("cmd")
        if name == "quit":
            break
        result = getattr(publisher, name)(**command)
        sys.stdout.buffer.write(orjson.dumps(result) + b"\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1])
