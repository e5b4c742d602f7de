"""Jobs under faults and bad input, on real workers: cancel, retries, killed workers, limits."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.live.harness import Stack, frames_until, job_ended, recv_json, running_stack

pytestmark = pytest.mark.asyncio

SETTINGS = {
    "JOBS_ENABLE_CRASH_DEMO": "1",
    "JOBS_HEARTBEAT_TTL_S": "3",
    "JOBS_REAP_INTERVAL_S": "1",
    "JOBS_CANCEL_GRACE_S": "2",
    "JOBS_MAX_ACTIVE_PER_USER": "3",
    "API_ENQUEUE_RATE": "5/m",
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(Path(tmp_path_factory.mktemp("lifecycle")), workers=("w1", "w2"), **SETTINGS) as live:
        yield live


async def start(http: Any, task: str, **params: Any) -> str:
    response = await http.post("/api/jobs", json={"task": task, "params": params})
    assert response.status_code == 202, response.text
    return response.json()["id"]


async def test_cancel_a_running_job_stops_it_within_2s(stack: Stack) -> None:
    token = stack.token("cancel-running")
    async with stack.ws(token) as ws, stack.http(token) as http:
        await recv_json(ws)
        job_id = await start(http, "demo.sleep", seconds=30)
        await frames_until(ws, lambda f: f["type"] == "job.progress")
        asked = time.monotonic()
        assert (await http.post(f"/api/jobs/{job_id}/cancel")).status_code == 202
        frames = await frames_until(ws, job_ended(job_id), timeout=5)
        took = time.monotonic() - asked
        stored = (await http.get(f"/api/jobs/{job_id}")).json()
    assert frames[-1]["type"] == "job.cancelled" and frames[-1]["data"]["forced"] is False
    assert took < 2, f"cancelled after {took:.2f}s"
    assert stored["status"] == "cancelled" and stored["finished_at"]


async def test_cancel_a_finished_job_is_409_and_anothers_is_404(stack: Stack) -> None:
    alice, bob = stack.token("cancel-alice"), stack.token("cancel-bob")
    async with stack.ws(alice) as ws, stack.http(alice) as a, stack.http(bob) as b:
        await recv_json(ws)
        job_id = (await a.post("/api/coucou")).json()["id"]
        await frames_until(ws, job_ended(job_id))
        finished = await a.post(f"/api/jobs/{job_id}/cancel")
        running = await start(a, "demo.sleep", seconds=30)
        foreign = await b.post(f"/api/jobs/{running}/cancel")
        assert (await a.post(f"/api/jobs/{running}/cancel")).status_code == 202
    assert finished.status_code == 409 and "succeeded" in finished.json()["detail"]
    assert foreign.status_code == 404


async def test_a_job_that_ignores_cancellation_is_stopped_after_the_grace_period(stack: Stack) -> None:
    token = stack.token("stubborn")
    async with stack.ws(token) as ws, stack.http(token) as http:
        await recv_json(ws)
        job_id = await start(http, "demo.sleep", seconds=60, ignore_cancel=True)
        await frames_until(ws, lambda f: f["type"] == "job.started")
        asked = time.monotonic()
        await http.post(f"/api/jobs/{job_id}/cancel")
        frames = await frames_until(ws, job_ended(job_id), timeout=15)
        took = time.monotonic() - asked
        assert (await http.get(f"/api/jobs/{job_id}")).json()["status"] == "cancelled"
        # The workers still serve: the next job runs.
        after = (await http.post("/api/coucou")).json()["id"]
        assert (await frames_until(ws, job_ended(after)))[-1]["type"] == "job.succeeded"
    assert frames[-1]["type"] == "job.cancelled" and frames[-1]["data"]["forced"] is True
    assert 2 <= took < 6, f"stopped after {took:.1f}s with a 2s grace period"


async def test_a_sigkilled_worker_job_is_redelivered_and_completes(stack: Stack) -> None:
    token = stack.token("survivor")
    async with stack.ws(token) as ws, stack.http(token) as http:
        await recv_json(ws)
        job_id = await start(http, "demo.sleep", seconds=3)
        started = (await frames_until(ws, lambda f: f["type"] == "job.started"))[-1]
        victim = started["data"]["worker"].split("@")[0]
        stack.workers[victim].kill()  # SIGKILL to the worker and its pool
        killed = time.monotonic()
        frames = await frames_until(ws, job_ended(job_id), timeout=60)
        took = time.monotonic() - killed
        stored = (await http.get(f"/api/jobs/{job_id}")).json()
    stack.start_worker(victim)
    types = [f["type"] for f in frames]
    assert "job.retrying" in types and types[-1] == "job.succeeded"
    retrying = frames[types.index("job.retrying")]
    assert retrying["data"]["error"]["type"] == "WorkerLost"
    restarted = [f for f in frames if f["type"] == "job.started"]
    assert restarted[-1]["data"]["attempt"] == 2 and not restarted[-1]["data"]["worker"].startswith(victim)
    assert stored["status"] == "succeeded" and stored["attempts"] == 2
    assert took < 60


async def test_a_job_that_kills_its_worker_every_time_fails_after_3_attempts(stack: Stack) -> None:
    token = stack.token("doomed")
    async with stack.ws(token) as ws, stack.http(token) as http:
        await recv_json(ws)
        job_id = (await http.post("/api/jobs", json={"task": "demo.crash"})).json()["id"]
        frames = await frames_until(ws, job_ended(job_id), timeout=90)
        stored = (await http.get(f"/api/jobs/{job_id}")).json()
    assert [f["data"]["attempt"] for f in frames if f["type"] == "job.started"] == [1, 2, 3]
    assert frames[-1]["type"] == "job.failed" and frames[-1]["data"]["error"]["type"] == "WorkerLost"
    assert stored["status"] == "failed" and stored["attempts"] == 3


async def test_retries_follow_the_jobs_policy(stack: Stack) -> None:
    token = stack.token("flaky")
    async with stack.ws(token) as ws, stack.http(token) as http:
        await recv_json(ws)
        job_id = await start(http, "demo.flaky", failures=2)
        frames = await frames_until(ws, job_ended(job_id), timeout=30)
        stored = (await http.get(f"/api/jobs/{job_id}")).json()
    retrying = [f["data"] for f in frames if f["type"] == "job.retrying"]
    assert [(r["attempt"], r["delay"]) for r in retrying] == [(1, 0.5), (2, 1.0)]
    assert retrying[0]["error"]["type"] == "ConnectionError"
    assert all("attempt" in f["data"] for f in frames)
    assert frames[-1]["data"] == {"result": {"succeeded_on_attempt": 3}, "attempt": 3}
    assert stored["attempts"] == 3 and stored["status"] == "succeeded"


async def test_idempotency_key_is_per_user(stack: Stack) -> None:
    alice, bob = stack.token("idem-alice"), stack.token("idem-bob")
    body = {"task": "demo.count", "params": {"n": 3}}
    headers = {"Idempotency-Key": "order-42"}
    async with stack.http(alice) as a, stack.http(bob) as b:
        first = (await a.post("/api/jobs", json=body, headers=headers)).json()
        again = (await a.post("/api/jobs", json=body, headers=headers)).json()
        bobs = (await b.post("/api/jobs", json=body, headers=headers)).json()
        listed = (await a.get("/api/jobs")).json()
    assert again["id"] == first["id"] and bobs["id"] != first["id"]
    assert listed["count"] == 1


async def finished(http: Any, job_id: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while (await http.get(f"/api/jobs/{job_id}")).json()["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, f"job {job_id} did not finish in {timeout} s"
        await asyncio.sleep(0.05)


async def test_enqueue_is_throttled_per_user_with_retry_after(stack: Stack) -> None:
    async with stack.http(stack.token("hasty")) as http, stack.http(stack.token("patient")) as other:
        answers = []
        for _ in range(5):
            response = await http.post("/api/coucou")
            answers.append(response.status_code)
            if response.status_code == 202:  # under the cap of 3 active jobs, which is not tested here
                await finished(http, response.json()["id"])
        throttled = await http.post("/api/coucou")
        assert (await other.post("/api/coucou")).status_code == 202
    assert answers == [202] * 5
    assert throttled.status_code == 429 and int(throttled.headers["Retry-After"]) > 0
    assert throttled.reason_phrase == "Too Many Requests"


async def test_active_jobs_are_capped_per_user(stack: Stack) -> None:
    async with stack.http(stack.token("greedy")) as http:
        running = [await start(http, "demo.sleep", seconds=30) for _ in range(3)]
        capped = await http.post("/api/jobs", json={"task": "demo.sleep", "params": {"seconds": 30}})
        for job_id in running:
            await http.post(f"/api/jobs/{job_id}/cancel")
    assert capped.status_code == 429 and "queued or running" in capped.json()["detail"]
    assert int(capped.headers["Retry-After"]) > 0


async def test_oversized_bodies_and_params_are_413(stack: Stack) -> None:
    async with stack.http(stack.token("bulky")) as http:
        huge = b'{"task": "demo.fail", "params": {"message": "' + b"x" * 100_000 + b'"}}'
        body = await http.post("/api/jobs", content=huge, headers={"Content-Type": "application/json"})
        params = await http.post("/api/jobs", json={"task": "demo.fail", "params": {"message": "y" * 20_000}})
        assert (await http.get("/api/jobs")).json()["count"] == 0
    assert body.status_code == 413 and "too large" in body.json()["detail"]
    assert params.status_code == 413 and "params" in params.json()["detail"]


async def test_socket_frame_limits_and_flood(stack: Stack) -> None:
    token = stack.token("chatty")
    async with stack.ws(token) as ws:
        await recv_json(ws)
        await ws.send("x" * 5000)
        assert (await recv_json(ws))["code"] == "frame_too_large"
        await ws.send('{"type": "ping"}')
        assert (await recv_json(ws)) == {"type": "pong"}
    async with stack.ws(token) as ws:
        await recv_json(ws)
        for _ in range(100):
            await ws.send('{"type": "ping"}')
        frames = []
        with pytest.raises(Exception) as closed:
            while True:
                frames.append(await recv_json(ws, timeout=5))
    assert getattr(closed.value, "rcvd", None) is not None and closed.value.rcvd.code == 4429
    assert 0 < len(frames) < 100


async def test_redis_down_gives_503_then_service_resumes(stack: Stack) -> None:
    token = stack.token("patience")
    async with stack.http(token) as http:
        stack.redis.stop()
        try:
            down = await http.post("/api/jobs", json={"task": "demo.count", "params": {"n": 2}})
            health = await http.get("/api/health")
        finally:
            stack.redis.start()
        listed = (await http.get("/api/jobs")).json()
        await asyncio.sleep(1)
        async with stack.ws(token) as ws:
            await recv_json(ws)
            job_id = (await http.post("/api/coucou")).json()["id"]
            frames = await frames_until(ws, job_ended(job_id), timeout=30)
    assert down.status_code == 503 and "unavailable" in down.json()["detail"]
    assert health.status_code == 503 and health.json()["redis"] is False and health.json()["db"] is True
    assert [j["status"] for j in listed["items"]] == ["failed"], "never a Job left queued forever"
    assert frames[-1]["type"] == "job.succeeded"
