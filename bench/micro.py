"""Publish-side figures from one worker-like process: ``python -m bench.micro SECONDS``.

- ``realtime.publish()`` calls/s, and Redis connections opened per call (Redis's
  ``total_connections_received`` before and after);
- the seed's ways for comparison: ``async_to_sync(group_send)`` per call and ``group_send`` on
  a long-lived loop, on both channel layers, and a plain synchronous redis-py PUBLISH;
- ``JobContext.progress()`` calls/s while coalescing, with a real emit (``realtime.publish``).

Prints one JSON object.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import orjson

MICRO_USER_BASE = 10_000_000  # user ids no socket belongs to
GROUPS = 100


def _connections() -> int:
    from realtime.redis import sync_client

    return int(sync_client().info("stats")["total_connections_received"])


def measure(name: str, call: Callable[[int], Any], seconds: float, *, warmup: int = 50) -> dict[str, Any]:
    for i in range(warmup):
        call(i)
    before = _connections()
    cpu_before = time.process_time()
    calls, started = 0, time.perf_counter()
    deadline = started + seconds
    while (now := time.perf_counter()) < deadline:
        for _ in range(50):
            call(calls)
            calls += 1
    elapsed = now - started
    cpu = time.process_time() - cpu_before
    opened = _connections() - before
    return {
        "name": name,
        "calls": calls,
        "calls_per_s": round(calls / elapsed),
        "cpu_us_per_call": round(cpu / calls * 1e6, 1),
        "connections_opened": opened,
        "connections_per_call": round(opened / calls, 4),
    }


def publish_figures(seconds: float) -> list[dict[str, Any]]:
    from realtime import publish
    from realtime.redis import sync_client

    data = {"t": 0, "i": 0}
    results = [
        measure(
            "realtime.publish",
            lambda i: publish(MICRO_USER_BASE + i % 1000, "bench", data),
            seconds,
        ),
        measure(
            "redis-py PUBLISH (reference)",
            lambda i: sync_client().publish(f"micro__group__user.{i % GROUPS}", b"x" * 120),
            seconds,
        ),
    ]
    return results


def layer_figures(seconds: float) -> list[dict[str, Any]]:
    from asgiref.sync import async_to_sync
    from channels_redis.core import RedisChannelLayer
    from channels_redis.pubsub import RedisPubSubChannelLayer
    from django.conf import settings

    results = []
    message = {"type": "relay.event", "event": {"seq": 1, "type": "bench", "data": {"t": 0}}}
    for label, layer in (
        ("core", RedisChannelLayer(hosts=[settings.REDIS_URL], prefix="micro-core")),
        ("pubsub", RedisPubSubChannelLayer(hosts=[settings.REDIS_URL], prefix="micro-pubsub")),
    ):
        if label == "core":  # one member per group, like a relay's users
            async_to_sync(_join)(layer)
        results.append(_per_call(label, async_to_sync(layer.group_send), message, min(seconds, 1.5)))
        loop = asyncio.new_event_loop()
        results.append(_long_lived(label, loop, layer, message, seconds))
        loop.run_until_complete(layer.flush())
        loop.close()
    return results


def _per_call(label: str, group_send: Callable[..., Any], message: Any, seconds: float) -> dict[str, Any]:
    # The seed's way: async_to_sync(group_send) per call, a new event loop each time.
    return measure(
        f"async_to_sync(group_send) per call, {label}",
        lambda i: group_send(f"user.{i % GROUPS}", message),
        seconds,
        warmup=5,
    )


def _long_lived(
    label: str, loop: asyncio.AbstractEventLoop, layer: Any, message: Any, seconds: float
) -> dict[str, Any]:
    return measure(
        f"group_send on a long-lived loop, {label}",
        lambda i: loop.run_until_complete(layer.group_send(f"user.{i % GROUPS}", message)),
        seconds,
    )


async def _join(layer: Any) -> None:
    for g in range(GROUPS):
        await layer.group_add(f"user.{g}", f"specific.micro!{g}")


def progress_figures(seconds: float) -> dict[str, Any]:
    from jobs.context import JobContext
    from realtime import publish

    emitted = 0

    def emit(type: str, data: dict[str, Any]) -> None:
        nonlocal emitted
        emitted += 1
        publish(MICRO_USER_BASE, type, data, job="micro")

    ctx = JobContext(job_id="micro", owner_id=MICRO_USER_BASE, task="bench", attempt=1, emit=emit, max_hz=10)
    progress = ctx.progress
    calls, total = 0, 10**9
    started = time.perf_counter()
    deadline = started + seconds
    while (now := time.perf_counter()) < deadline:
        for i in range(calls, calls + 10_000):
            progress(i, total)
        calls += 10_000
    elapsed = now - started
    ctx.close()
    return {
        "calls": calls,
        "calls_per_s": round(calls / elapsed),
        "pushes": emitted,
        "pushes_per_s": round(emitted / elapsed, 1),
    }


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
    result = {
        "publish": publish_figures(seconds),
        "layers": layer_figures(seconds),
        "progress": progress_figures(seconds),
    }
    sys.stdout.buffer.write(orjson.dumps(result) + b"\n")


if __name__ == "__main__":
    main()
