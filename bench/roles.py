"""One Redis for both roles, or the broker and the realtime Redis apart: ``python -m bench.roles``.

Two measurements on real processes, each with both topologies (platform/SCALING.md quotes them):

- **load**: one process calling ``realtime.publish()`` and one sending Celery messages
  (``apply_async`` of the coucou task, no worker), alone and both at once, for
  ``SECONDS`` each; calls/s per process, and each Redis server's CPU per call and busy share
  (``INFO cpu`` before and after: Redis runs commands on one thread, so 100 % is its limit).
- **jobs**: daphne and a Celery worker (tests/live/harness.py), ``JOBS`` coucou jobs posted
  ``IN_FLIGHT`` at a time by 4 users whose sockets are open; jobs/s from the first POST to the
  last ``job.succeeded`` frame, and each Redis server's CPU per job.

With ``BENCH_AMQP_URL`` set, also Celery sends/s to that RabbitMQ (publisher confirms on, as
config/settings.py sets for AMQP). Prints one JSON object. Usage:
``python -m bench.roles [SECONDS] [JOBS]`` (defaults 4 and 300).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import redis

from devtools.redis_server import RedisServer

ROOT = Path(__file__).resolve().parent.parent
IN_FLIGHT = 8
USERS = 4


def _cpu(server: RedisServer) -> float:
    info = redis.Redis(port=server.port).info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def _env(broker: RedisServer, realtime: RedisServer, **extra: str) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_SETTINGS"))},
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "REDIS_URL": broker.url,
        "CELERY_BROKER_URL": broker.url,
        "REALTIME_REDIS_URL": realtime.url,
        **extra,
    }


# --- load: the two roles' clients, alone and together ---------------------------------------
def _loader(kind: str, seconds: float) -> None:
    """In a child process: call publish() or send a Celery message for ``seconds``; print calls."""
    import django

    django.setup()
    if kind == "publish":
        from realtime import publish

        def call(i: int) -> None:
            publish(20_000_000 + i % 1000, "bench", {"i": i})
    else:
        from jobs.registry import get_spec

        task = get_spec("coucou").celery_task

        def call(i: int) -> None:
            task.apply_async(args=[str(uuid.uuid4())])

    for i in range(50):
        call(i)
    print("ready", flush=True)
    sys.stdin.readline()  # every loader starts together
    calls, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        call(calls)
        calls += 1
    print(json.dumps({"kind": kind, "calls": calls, "per_s": round(calls / (time.perf_counter() - started))}))


def load(
    broker: RedisServer, realtime: RedisServer, kinds: list[str], seconds: float, **extra: str
) -> dict[str, Any]:
    env = _env(broker, realtime, **extra)
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "bench.roles", "_loader", kind, str(seconds)],
            env=env,
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for kind in kinds
    ]
    for child in children:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    servers = {id(s): s for s in (broker, realtime)}.values()
    before = {s.port: _cpu(s) for s in servers}
    for child in children:
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    results = [json.loads(child.communicate(timeout=seconds + 60)[0].splitlines()[-1]) for child in children]
    used = {s.port: _cpu(s) - before[s.port] for s in servers}
    for server in servers:
        redis.Redis(port=server.port).flushall()
    calls = {r["kind"]: r["calls"] for r in results}
    served = {
        "both": sum(calls.values()),
        "broker": calls.get("send", 0),
        "realtime": calls.get("publish", 0),
    }
    figures = []
    for server in servers:
        role = _role(server, broker, realtime)
        figures.append({"role": role, "busy_pct": round(used[server.port] / seconds * 100, 1)})
        if served[role]:  # the calls of its role: a split server's CPU per call of the other is noise
            figures[-1]["cpu_us_per_call"] = round(used[server.port] / served[role] * 1e6, 1)
    return {"clients": {r["kind"]: r["per_s"] for r in results}, "redis": figures}


def _role(server: RedisServer, broker: RedisServer, realtime: RedisServer) -> str:
    return "both" if broker is realtime else ("broker" if server is broker else "realtime")


# --- jobs: the whole path, on a real stack ----------------------------------------------------
async def _post_jobs(stack: Any, tokens: list[str], jobs: int) -> float:
    from tests.live.harness import recv_json

    sockets = [await stack.ws(t) for t in tokens]
    for ws in sockets:
        await recv_json(ws)
    clients = [stack.http(t) for t in tokens]
    pending: dict[str, asyncio.Event] = {}

    async def read(ws: Any) -> None:
        while True:
            frame = json.loads(await ws.recv())
            if frame.get("type") == "job.succeeded":  # maybe before its POST has answered
                pending.setdefault(frame["job"], asyncio.Event()).set()

    readers = [asyncio.ensure_future(read(ws)) for ws in sockets]
    gate = asyncio.Semaphore(IN_FLIGHT)

    async def one(i: int) -> None:
        async with gate:
            response = await clients[i % len(clients)].post("/api/coucou")
            assert response.status_code == 202, response.text
            done = pending.setdefault(response.json()["id"], asyncio.Event())
            await asyncio.wait_for(done.wait(), 60)

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(jobs)))
    elapsed = time.perf_counter() - started
    for task in readers:
        task.cancel()
    for ws in sockets:
        await ws.close()
    for client in clients:
        await client.aclose()
    return elapsed


def jobs_run(broker: RedisServer, realtime: RedisServer, jobs: int, tmp: Path) -> dict[str, Any]:
    from tests.live.harness import Stack

    env = _env(broker, realtime, API_ENQUEUE_RATE="1000000/m")
    stack = Stack(tmp, **{k: env[k] for k in ("REDIS_URL", "CELERY_BROKER_URL", "REALTIME_REDIS_URL")},
                  API_ENQUEUE_RATE="1000000/m")  # fmt: skip
    try:
        stack.start_web()
        stack.start_worker(concurrency=2)
        tokens = [stack.token(f"roles{i}") for i in range(USERS)]
        asyncio.run(_post_jobs(stack, tokens, 20))  # warm-up
        servers = {id(s): s for s in (broker, realtime)}.values()
        before = {s.port: _cpu(s) for s in servers}
        elapsed = asyncio.run(_post_jobs(stack, tokens, jobs))
        used = {s.port: _cpu(s) - before[s.port] for s in servers}
    finally:
        stack.stop()
    return {
        "jobs_per_s": round(jobs / elapsed, 1),
        "redis": [
            {
                "role": _role(s, broker, realtime),
                "busy_pct": round(used[s.port] / elapsed * 100, 1),
                "cpu_us_per_job": round(used[s.port] / jobs * 1e6),
            }
            for s in servers
        ],
    }


def main() -> None:
    if sys.argv[1:2] == ["_loader"]:
        _loader(sys.argv[2], float(sys.argv[3]))
        return
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 4.0
    jobs = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    tmp = Path(tempfile.mkdtemp(prefix="coucou-roles-"))
    one, other = RedisServer(tmp / "redis-a").start(), RedisServer(tmp / "redis-b").start()
    out: dict[str, Any] = {"cores": os.cpu_count(), "seconds": seconds, "jobs": jobs}
    try:
        for name, (broker, realtime) in (("one_redis", (one, one)), ("split", (one, other))):
            out[name] = {
                "publish_alone": load(broker, realtime, ["publish"], seconds),
                "send_alone": load(broker, realtime, ["send"], seconds),
                "both_at_once": load(broker, realtime, ["publish", "send"], seconds),
                "jobs": jobs_run(broker, realtime, jobs, tmp / name),
            }
        if amqp := os.environ.get("BENCH_AMQP_URL"):  # e.g. amqp://guest:guest@127.0.0.1:5672//
            queue = f"coucou-bench-{uuid.uuid4().hex[:8]}"
            sends = load(one, one, ["send"], seconds, CELERY_BROKER_URL=amqp, CELERY_TASK_DEFAULT_QUEUE=queue)
            out["amqp_send_alone"] = sends["clients"]
            from kombu import Connection

            with Connection(amqp) as connection:
                connection.default_channel.queue_delete(queue)
    finally:
        one.stop()
        other.stop()
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
