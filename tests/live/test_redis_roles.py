"""The broker and the realtime Redis on two different Redis servers, with real processes.

CELERY_BROKER_URL names one server and REALTIME_REDIS_URL another: Celery's keys land on the
first, everything realtime (streams, heads, tickets, throttles, heartbeats, the channel
layer's pub/sub) on the second, and REDIS_URL's server is not used at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
import websockets

from devtools.redis_server import RedisServer
from tests.live.harness import Stack, frames_until, job_ended, recv_json, running_stack, wait_until

pytestmark = pytest.mark.asyncio


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RedisServer, RedisServer]]:
    tmp = Path(tmp_path_factory.mktemp("roles"))
    broker, realtime = RedisServer(tmp / "broker").start(), RedisServer(tmp / "realtime").start()
    try:
        yield broker, realtime
    finally:
        broker.stop()
        realtime.stop()


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, servers: tuple[RedisServer, RedisServer]
) -> Iterator[Stack]:
    broker, realtime = servers
    tmp = Path(tmp_path_factory.mktemp("stack"))
    with running_stack(tmp, CELERY_BROKER_URL=broker.url, REALTIME_REDIS_URL=realtime.url) as live:
        yield live


def keys(server: RedisServer) -> set[str]:
    return {key.decode() for key in redis.Redis(port=server.port).keys("*")}


async def test_a_job_runs_with_each_role_on_its_own_server(
    stack: Stack, servers: tuple[RedisServer, RedisServer]
) -> None:
    broker, realtime = servers
    token = stack.token("roles")
    async with stack.http(token) as http:
        ticket = (await http.post("/api/realtime/ticket")).json()["ticket"]
        async with websockets.connect(f"ws://127.0.0.1:{stack.port}/ws/events/?ticket={ticket}") as ws:
            hello = await recv_json(ws)
            response = await http.post("/api/jobs", json={"task": "demo.count", "params": {"n": 30}})
            assert response.status_code == 202, response.text
            job_id = response.json()["id"]
            frames = await frames_until(ws, job_ended(job_id))
        health = await http.get("/api/health")

    assert hello["type"] == "hello"
    assert [f["type"] for f in frames][:2] == ["job.queued", "job.started"]
    assert frames[-1]["type"] == "job.succeeded" and frames[-1]["data"]["result"] == {"counted": 30}
    assert [f["seq"] for f in frames] == list(range(hello["seq"] + 1, hello["seq"] + 1 + len(frames)))
    assert health.json() == {"status": "ok", "db": True, "redis": True, "broker": True}

    on_broker, on_realtime = keys(broker), keys(realtime)
    # Celery's: the queue's binding, and the worker's events and acks (the queue itself is empty).
    assert "_kombu.binding.celery" in on_broker
    assert not {k for k in on_broker if k.startswith("coucou:")}
    # Realtime: the user's stream and head, the throttle, the job's supervision keys.
    uid = stack.user_id("roles")
    assert {f"coucou:{{u{uid}}}:events", f"coucou:{{u{uid}}}:head"} <= on_realtime
    assert any("throttle" in k for k in on_realtime), on_realtime
    assert not {k for k in on_realtime if k.startswith(("_kombu", "celery", "unacked"))}
    assert keys(stack.redis) == set(), "nothing should use REDIS_URL's server when both roles are set"


async def test_with_the_broker_down_health_names_it_and_the_socket_hears_the_refused_job_end(
    stack: Stack, servers: tuple[RedisServer, RedisServer]
) -> None:
    broker, _ = servers
    token = stack.token("roles-down")
    async with stack.http(token) as http, stack.ws(token) as ws:
        await recv_json(ws)
        broker.stop()
        try:
            health = await http.get("/api/health")
            refused = await http.post("/api/coucou")
            # The realtime Redis is up: the job that could not be queued is told to end.
            refused_frames = await frames_until(ws, lambda f: f["type"] == "job.failed")
            await ws.send('{"type": "ping"}')
            pong = await recv_json(ws)
        finally:
            broker.start()
        wait_until(
            lambda: httpx.get(f"{stack.base_url}/api/health").status_code == 200, timeout=20, what="health"
        )
        job_id = (await http.post("/api/coucou")).json()["id"]
        frames = await frames_until(ws, job_ended(job_id), timeout=30)

    assert health.status_code == 503
    assert health.json() == {
        "status": "unavailable", "db": True, "redis": True, "broker": False, "detail": "broker unreachable"
    }  # fmt: skip
    assert refused.status_code == 503 and "unavailable" in refused.json()["detail"]
    assert [f["type"] for f in refused_frames] == ["job.queued", "job.failed"]
    assert refused_frames[1]["data"]["error"]["type"] == "EnqueueUnavailable"
    assert pong["type"] == "pong"
    assert [f["type"] for f in frames] == ["job.queued", "job.started", "coucou", "job.succeeded"]
