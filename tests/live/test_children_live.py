"""A parent of 100 child jobs on real workers: one bar to 100 %, one end, a worker SIGKILLed too."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.live.harness import Stack, frames_until, job_ended, recv_json, running_stack

pytestmark = pytest.mark.asyncio
LOST = "WorkerLost"
SETTINGS = {"JOBS_HEARTBEAT_TTL_S": "3", "JOBS_REAP_INTERVAL_S": "1", "JOBS_PROGRESS_DB_INTERVAL_S": "0.2"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(Path(tmp_path_factory.mktemp("children")), workers=("w1", "w2"), **SETTINGS) as live:
        yield live


def bar_of(frames: list[dict[str, Any]], job_id: str) -> list[float]:
    return [f["data"]["percent"] for f in frames if f.get("job") == job_id and f["type"] == "job.progress"]


async def fan_out(http: Any, **params: Any) -> str:
    response = await http.post("/api/jobs", json={"task": "demo.fanout", "params": params})
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


async def test_a_parent_of_100_children_shows_one_bar_to_100_and_gathers_their_results(stack: Stack) -> None:
    token = stack.token("fan-out")
    async with stack.ws(token) as ws, stack.http(token) as http:
        await recv_json(ws)
        parent = await fan_out(http, children=100, steps=5, interval_ms=10)
        frames = await frames_until(ws, job_ended(parent), timeout=120)
        shown = (await http.get(f"/api/jobs/{parent}")).json()
        listed = (await http.get(f"/api/jobs?parent={parent}&limit=100")).json()
    assert frames[-1]["type"] == "job.succeeded"
    assert frames[-1]["data"]["result"] == {"body": {"children": 100}, "children": [{"counted": 5}] * 100}
    bar = bar_of(frames, parent)
    assert bar and bar[-1] == 100.0 and bar == sorted(bar)  # one bar, only forward
    children = {f["job"] for f in frames if f["type"] == "job.queued" and f["data"].get("parent") == parent}
    assert len(children) == 100
    assert shown["status"] == "succeeded" and shown["progress"]["percent"] == 100.0
    assert shown["children"] == {
        "total": 100,
        "queued": 0,
        "running": 0,
        "succeeded": 100,
        "failed": 0,
        "cancelled": 0,
    }
    assert listed["count"] == 100 and {item["id"] for item in listed["items"]} == children


async def test_a_worker_sigkilled_under_the_children_leaves_one_bar_that_still_ends(stack: Stack) -> None:
    token = stack.token("fan-out-kill")
    async with stack.ws(token) as ws, stack.http(token) as http:
        await recv_json(ws)
        parent = await fan_out(http, children=100, steps=10, interval_ms=30)

        def running_on_w1(frame: dict[str, Any]) -> bool:
            return (
                frame["type"] == "job.started"
                and frame["data"]["worker"].startswith("w1@")
                and bool(bar_of(seen, parent) and bar_of(seen, parent)[-1] >= 20)
            )

        seen: list[dict[str, Any]] = []

        def watch(frame: dict[str, Any]) -> bool:
            seen.append(frame)
            return running_on_w1(frame)

        await frames_until(ws, watch, timeout=120)
        stack.workers["w1"].kill()  # SIGKILL to the worker and its pool, mid-child
        rest = await frames_until(ws, job_ended(parent), timeout=120)
        shown = (await http.get(f"/api/jobs/{parent}")).json()
    stack.start_worker("w1")
    frames = seen + rest
    assert frames[-1]["type"] == "job.succeeded", frames[-1]
    assert frames[-1]["data"]["result"]["children"] == [{"counted": 10}] * 100
    recovered = [
        f for f in frames if f["type"] == "job.retrying" and f["data"]["error"]["type"] == "WorkerLost"
    ]
    assert recovered, "the killed worker's children were run again"
    assert bar_of(frames, parent)[-1] == 100.0
    assert shown["children"]["succeeded"] == 100 and shown["status"] == "succeeded"


async def test_a_failing_child_fails_its_parent_fast_and_cancels_the_others(stack: Stack) -> None:
    token = stack.token("fan-out-fail")
    async with stack.ws(token) as ws, stack.http(token) as http:
        await recv_json(ws)
        parent = await fan_out(http, children=40, steps=20, interval_ms=50, fail=[39])
        frames = await frames_until(ws, job_ended(parent), timeout=60)
        shown = (await http.get(f"/api/jobs/{parent}")).json()
    assert frames[-1]["type"] == "job.failed"
    assert frames[-1]["data"]["error"]["type"] == "ChildFailed"
    assert "child 39 fails" in frames[-1]["data"]["error"]["message"]
    counts = shown["children"]
    assert counts["failed"] == 1 and counts["cancelled"] + counts["running"] + counts["succeeded"] == 39
    assert counts["queued"] == 0  # none left to start
