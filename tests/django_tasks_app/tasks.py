"""Tasks defined the standard way, with ``@task``: the unit and live tests enqueue them."""

from __future__ import annotations

import asyncio
import datetime
import time
from typing import Any

from django.tasks import TaskContext, task

from jobs import tasks_backend


class QuotaExceeded(Exception):
    """A task's own exception: its class is found in this module."""


@task
def count(n: int, *, interval_ms: int = 0, label: str = "counting") -> dict[str, Any]:
    for i in range(1, n + 1):
        tasks_backend.progress(i, n, label)
        if interval_ms:
            time.sleep(interval_ms / 1000)
    return {"counted": n, "label": label}


@task
def fail(message: str) -> None:
    raise ValueError(message)


@task
def over_quota() -> None:
    raise QuotaExceeded("too many")


@task(takes_context=True)
def introspect(context: TaskContext, name: str) -> dict[str, Any]:
    result = context.task_result
    return {"hello": name, "attempt": context.attempt, "id": result.id, "status": str(result.status)}


@task
async def acount(n: int) -> dict[str, int]:
    for i in range(1, n + 1):
        tasks_backend.progress(i, n)
        await asyncio.sleep(0)
    return {"counted": n}


@task
def sleep(seconds: float) -> dict[str, float]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        tasks_backend.check_cancelled()
        time.sleep(0.02)
    return {"slept": seconds}


@task
def returns_a_date() -> datetime.date:
    return datetime.date(2026, 1, 1)


not_a_task = count.func
