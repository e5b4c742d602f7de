"""``django.tasks`` on the Coucou backend, end to end: ``task.enqueue()`` in one process, a real
Celery worker runs it, the owner's socket sees it, ``get_result()`` reads it back. Django 6 only."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("django.tasks")

from tests.live.harness import Stack, frames_until, job_ended, recv_json, running_stack

pytestmark = pytest.mark.asyncio

TASKS = "tests.django_tasks_app.tasks"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(
        Path(tmp_path_factory.mktemp("django-tasks")),
        DJANGO_SETTINGS_MODULE="tests.live.django_tasks_settings",
    ) as live:
        yield live


async def shell(stack: Stack, code: str) -> Any:
    """Run ``code`` in a fresh Django process of the stack; its last printed line, as JSON."""
    out = await asyncio.to_thread(stack.manage, "shell", "-v", "0", "-c", code)
    return json.loads(out.strip().splitlines()[-1])


async def enqueue(stack: Stack, username: str, call: str) -> str:
    return await shell(
        stack,
        "import json\n"
        "from django.contrib.auth import get_user_model\n"
        "from jobs import tasks_backend\n"
        f"from {TASKS} import *\n"
        f"with tasks_backend.owner(get_user_model().objects.get(username={username!r})):\n"
        f"    result = {call}\n"
        "print(json.dumps(result.id))\n",
    )


async def get_result(stack: Stack, task: str, result_id: str) -> dict[str, Any]:
    return await shell(
        stack,
        "import json\n"
        f"from {TASKS} import {task}\n"
        f"r = {task}.get_result({result_id!r})\n"
        "print(json.dumps({'status': str(r.status), 'attempts': r.attempts,\n"
        "    'value': r.return_value if r.status == 'SUCCESSFUL' else None,\n"
        "    'errors': [[e.exception_class_path, e.traceback] for e in r.errors],\n"
        "    'finished': r.finished_at is not None, 'args': r.args, 'kwargs': r.kwargs}))\n",
    )


async def test_a_task_enqueued_the_standard_way_runs_on_a_worker_and_reports(stack: Stack) -> None:
    token = stack.token("dora")
    async with stack.ws(token) as ws, stack.http(token) as http:
        hello = await recv_json(ws)
        job_id = await enqueue(stack, "dora", "count.enqueue(30, interval_ms=20, label='live')")
        frames = await frames_until(ws, job_ended(job_id))
        row = (await http.get(f"/api/jobs/{job_id}")).json()

    assert all(f["job"] == job_id for f in frames)
    assert [f["seq"] for f in frames] == list(range(hello["seq"] + 1, hello["seq"] + 1 + len(frames)))
    types = [f["type"] for f in frames]
    assert types[:2] == ["job.queued", "job.started"] and types[-1] == "job.succeeded"
    progress = [f["data"] for f in frames if f["type"] == "job.progress"]
    assert len(progress) >= 2 and progress[-1]["current"] == 30 and progress[-1]["percent"] == 100.0
    assert progress[-1]["message"] == "live"
    assert frames[-1]["data"]["result"] == {"counted": 30, "label": "live"}
    assert row["task"] == f"django:{TASKS}.count" and row["status"] == "succeeded"
    assert row["params"] == {"args": [30], "kwargs": {"interval_ms": 20, "label": "live"}}

    result = await get_result(stack, "count", job_id)
    assert result["status"] == "SUCCESSFUL" and result["attempts"] == 1 and result["finished"]
    assert result["value"] == {"counted": 30, "label": "live"}
    assert (result["args"], result["kwargs"]) == ([30], {"interval_ms": 20, "label": "live"})


async def test_a_failing_task_reports_failed_with_its_error(stack: Stack) -> None:
    token = stack.token("fred")
    async with stack.ws(token) as ws:
        await recv_json(ws)
        job_id = await enqueue(stack, "fred", "fail.enqueue('live boom')")
        frames = await frames_until(ws, job_ended(job_id))

    assert [f["type"] for f in frames] == ["job.queued", "job.started", "job.failed"]
    assert frames[-1]["data"]["error"] == {"type": "ValueError", "message": "live boom"}
    result = await get_result(stack, "fail", job_id)
    assert result["status"] == "FAILED" and result["finished"]
    assert result["errors"] == [["builtins.ValueError", "ValueError: live boom"]]


async def test_the_owner_cancels_a_running_task_over_rest(stack: Stack) -> None:
    token = stack.token("gaby")
    async with stack.ws(token) as ws, stack.http(token) as http:
        await recv_json(ws)
        job_id = await enqueue(stack, "gaby", "sleep.enqueue(30)")
        await frames_until(ws, lambda f: f.get("job") == job_id and f["type"] == "job.started")
        assert (await http.post(f"/api/jobs/{job_id}/cancel")).status_code == 202
        frames = await frames_until(ws, job_ended(job_id))

    assert frames[-1]["type"] == "job.cancelled" and frames[-1]["data"]["forced"] is False
    result = await get_result(stack, "sleep", job_id)
    assert result["status"] == "FAILED" and result["finished"]
    assert [path for path, _ in result["errors"]] == ["jobs.exceptions.JobCancelled"]


async def test_rest_refuses_to_start_a_django_task(stack: Stack) -> None:
    token = stack.token("hugo")
    async with stack.http(token) as http:
        response = await http.post(
            "/api/jobs", json={"task": f"django:{TASKS}.count", "params": {"args": [1]}}
        )
        listed = (await http.get("/api/jobs")).json()

    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["type"] == "unknown_task"
    assert listed["count"] == 0
