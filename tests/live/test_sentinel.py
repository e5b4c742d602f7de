"""Redis Sentinel for both roles, with a real failover: the primary is SIGKILLed mid-job.

A primary, a replica and three Sentinels (redis-server --sentinel) carry the broker
(kombu's sentinel:// transport) and the realtime Redis (redis-py's Sentinel pools, and
channels-redis's sentinel host for the layer). After the failover the replica is the
primary; web and worker find it through the Sentinels, the open socket hears every event
from then on (after a ``resync`` when the replica's history is not the one the socket saw),
and a job submitted after the failover runs and its frames arrive.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from devtools.redis_server import RedisServer
from tests.live.harness import Stack, job_ended, recv_json, wait_until
from tests.live.sentinels import ReplicaServer, SentinelServer

pytestmark = pytest.mark.asyncio

MASTER = "coucou"


@pytest.fixture
def topology(tmp_path: Path) -> Iterator[tuple[RedisServer, ReplicaServer, list[SentinelServer]]]:
    primary = RedisServer(tmp_path / "primary", appendonly=False).start()
    started: list[RedisServer] = [primary]
    try:
        replica = ReplicaServer(tmp_path / "replica", primary).start()
        started.append(replica)
        sentinels = []
        for i in range(3):
            sentinels.append(SentinelServer(tmp_path / f"sentinel{i}", primary, MASTER).start())
            started.append(sentinels[-1])
        wait_until(replica.synced, timeout=15, what="the replica's first sync")
        wait_until(
            lambda: all(s.knows(replicas=1, sentinels=2) for s in sentinels),
            timeout=20,
            what="Sentinels finding the replica and each other",
        )
        yield primary, replica, sentinels
    finally:
        for server in reversed(started):
            server.stop()


def sentinel_settings(sentinels: list[SentinelServer]) -> dict[str, str]:
    hosts = [f"127.0.0.1:{s.port}" for s in sentinels]
    return {
        "REALTIME_REDIS_SENTINELS": ",".join(hosts),
        "REALTIME_REDIS_SENTINEL_MASTER": MASTER,
        "CELERY_BROKER_URL": ";".join(f"sentinel://{h}/0" for h in hosts),
        "CELERY_BROKER_SENTINEL_MASTER": MASTER,
        "REALTIME_SWEEP_INTERVAL_S": "0.5",
    }


class Reader:
    """One user's socket that reconnects with ``?after=`` when it drops, keeping every frame."""

    def __init__(self, stack: Stack, token: str) -> None:
        self.stack, self.token = stack, token
        self.frames: list[dict[str, Any]] = []
        self.reconnects = 0
        self.ws: Any = None

    async def open(self) -> dict[str, Any]:
        after = self.last_seq()
        self.ws = await self.stack.ws(self.token, after=after)
        hello = await recv_json(self.ws)
        self.frames.append(hello)
        return hello

    def last_seq(self) -> int | None:
        seqs = [f["seq"] for f in self.frames if f.get("type") not in {"hello", "pong"} and "seq" in f]
        return seqs[-1] if seqs else None

    async def until(self, stop: Any, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not any(stop(f) for f in self.frames):
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no such frame after {timeout}s; got {self.frames[-5:]}")
            try:
                self.frames.append(await recv_json(self.ws, timeout=left))
            except ConnectionClosed:
                self.reconnects += 1
                await self._reopen(deadline)

    async def _reopen(self, deadline: float) -> None:
        while True:
            try:
                await self.open()
                return
            except (OSError, ConnectionClosed, TimeoutError):
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()


def contiguous_since_last_resync(frames: list[dict[str, Any]]) -> list[int]:
    """The seqs of events after the last hello or resync, which must follow it one by one."""
    start = max(i for i, f in enumerate(frames) if f["type"] in {"hello", "resync"})
    return [f["seq"] for f in frames[start + 1 :] if "seq" in f and f["type"] != "pong"]


async def test_sockets_and_jobs_continue_through_a_failover(
    tmp_path: Path, topology: tuple[RedisServer, ReplicaServer, list[SentinelServer]]
) -> None:
    primary, replica, sentinels = topology
    began = time.monotonic()
    stack = Stack(tmp_path / "stack", **sentinel_settings(sentinels))
    try:
        stack.start_web()
        stack.start_worker()
        token = stack.token("sentinel")
        reader = Reader(stack, token)
        async with stack.http(token) as http:
            hello = await reader.open()
            assert hello["type"] == "hello"
            before = (await http.post("/api/jobs", json={"task": "demo.count", "params": {"n": 5}})).json()
            await reader.until(job_ended(before["id"]), timeout=20)
            # Everything so far went through the primary.
            assert primary.port in {s.master_port() for s in sentinels}

            running = await http.post(
                "/api/jobs", json={"task": "demo.count", "params": {"n": 60, "interval_ms": 50}}
            )
            assert running.status_code == 202
            running_id = running.json()["id"]
            await reader.until(
                lambda f: f.get("job") == running_id and f["type"] == "job.progress", timeout=20
            )

            primary.kill()  # SIGKILL, mid-job
            killed = time.monotonic()
            wait_until(
                lambda: all(s.master_port() == replica.port for s in sentinels),
                timeout=30,
                what="the failover",
            )
            failover_s = time.monotonic() - killed
            wait_until(lambda: _healthy(stack), timeout=30, what="health after the failover")

            after = await http.post("/api/coucou")
            assert after.status_code == 202, after.text
            after_id = after.json()["id"]
            await reader.until(job_ended(after_id), timeout=30)
            await reader.until(job_ended(running_id), timeout=30)
            ended = (await http.get(f"/api/jobs/{running_id}")).json()
            listed = (await http.get(f"/api/jobs/{after_id}")).json()
            health = (await http.get("/api/health")).json()
        await reader.close()
    finally:
        stack.stop()
    elapsed = time.monotonic() - began

    frames = reader.frames
    mine = [f for f in frames if f.get("job") == after_id]
    assert [f["type"] for f in mine] == ["job.queued", "job.started", "coucou", "job.succeeded"]
    assert mine[2]["data"] == {"message": "coucou sentinel"}
    assert listed["status"] == "succeeded"
    # The job that ran through the failover ends, on the socket and in its row.
    assert [f["type"] for f in frames if f.get("job") == running_id][-1] == "job.succeeded"
    assert ended["status"] == "succeeded" and ended["result"] == {"counted": 60}
    # Never a silent gap: after the last hello or resync, seqs follow one by one.
    seqs = contiguous_since_last_resync(frames)
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), seqs
    assert health == {"status": "ok", "db": True, "redis": True, "broker": True}
    resyncs = sum(f["type"] == "resync" for f in frames)
    print(
        f"failover {failover_s:.1f} s, reconnects {reader.reconnects}, resyncs {resyncs},"
        f" test {elapsed:.0f} s"
    )
    assert elapsed < 90


def _healthy(stack: Stack) -> bool:
    try:
        return httpx.get(f"{stack.base_url}/api/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
