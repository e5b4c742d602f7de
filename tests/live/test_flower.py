"""Flower, started against the same broker, sees the worker and a finished job."""

from __future__ import annotations

import httpx
import pytest

from devtools.redis_server import free_port
from tests.live.harness import Stack, frames_until, job_ended, recv_json, wait_until

pytestmark = pytest.mark.asyncio


async def test_flower_shows_the_worker_and_a_finished_task(stack: Stack) -> None:
    port = free_port()
    proc = stack.start_flower(port, auth="ops:s3cret")
    flower = f"http://127.0.0.1:{port}"
    wait_until(lambda: _get(f"{flower}/healthcheck") == 200, timeout=30, what="flower", proc=proc)

    assert _get(f"{flower}/api/workers") == 401, "Flower's API must sit behind its basic auth"

    token = stack.token("gaspard")
    async with stack.ws(token) as ws, stack.http(token) as http:
        await recv_json(ws)
        job_id = (await http.post("/api/coucou")).json()["id"]
        await frames_until(ws, job_ended(job_id))

    auth = ("ops", "s3cret")
    workers = wait_until(
        lambda: _json(f"{flower}/api/workers?refresh=1", auth), timeout=30, what="flower to see the worker"
    )
    assert any(name.startswith("w1@") for name in workers)
    task = wait_until(
        lambda: _json(f"{flower}/api/task/info/{job_id}", auth), timeout=30, what="flower to see the task"
    )
    assert task["name"] == "coucou"
    assert task["state"] == "SUCCESS"
    assert task["worker"].startswith("w1@")
    # Flower reads queue lengths with a client it picks by the broker URL's scheme.
    queues = wait_until(
        lambda: _json(f"{flower}/api/queues/length", auth), timeout=30, what="flower's queue lengths"
    )
    assert {"name": "celery", "messages": 0} in queues["active_queues"]


def _get(url: str) -> int:
    try:
        return httpx.get(url, timeout=2).status_code
    except httpx.HTTPError:
        return 0


def _json(url: str, auth: tuple[str, str]) -> dict | None:
    try:
        response = httpx.get(url, auth=auth, timeout=5)
    except httpx.HTTPError:
        return None
    return response.json() if response.status_code == 200 and response.json() else None
