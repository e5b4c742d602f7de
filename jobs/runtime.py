"""Runs one job in a worker: the body of every Celery task that ``@job`` registers."""

from __future__ import annotations

import logging
import time
from functools import partial
from typing import Any

import orjson
from redis.exceptions import RedisError

from jobs import conf
from jobs.context import JobContext
from jobs.exceptions import JobFailed
from jobs.models import Job
from jobs.registry import get_spec
from realtime import publish

logger = logging.getLogger(__name__)


def execute(job_id: str, *, task_name: str) -> None:
    job = Job.objects.filter(pk=job_id).first()
    if job is None or job.task != task_name:
        logger.warning("ignoring %s for job %s: no such job of that task", task_name, job_id)
        return
    if job.is_finished:
        return
    spec = get_spec(task_name)
    job.mark_running()
    emit = partial(_emit, job.owner_id, str(job.id))
    emit("job.started", {"attempt": job.attempts})
    settings = conf.get()
    ctx = JobContext(
        job_id=str(job.id),
        owner_id=job.owner_id,
        task=job.task,
        attempt=job.attempts,
        emit=emit,
        save_progress=job.set_progress,
        max_hz=settings.progress_max_hz,
        db_interval=settings.progress_db_interval_s,
    )
    try:
        params = spec.parse(job.params)
        result = spec.fn(ctx) if params is None else spec.fn(ctx, params)
        result = _as_json(result)
    except Exception as exc:  # noqa: BLE001 - every failure of a body ends its job
        if not isinstance(exc, JobFailed):
            logger.exception("job %s (%s) failed", job.id, job.task)
        ctx.close()
        error = {"type": type(exc).__name__, "message": str(exc)}
        job.mark_failed(error)
        emit("job.failed", {"error": error, "attempt": job.attempts})
    else:
        ctx.close()
        job.mark_succeeded(result)
        emit("job.succeeded", {"result": result, "attempt": job.attempts})


EVENT_RETRY_S = 30.0


def _emit(owner_id: int, job_id: str, type: str, data: dict[str, Any]) -> None:
    if type == "job.progress":
        publish(owner_id, type, data, job=job_id)  # JobContext retries on its next tick
        return
    # Lifecycle events wait out a Redis restart. The Job row is written first and stays the
    # truth, so an event that still cannot be published is logged, never fatal to the job.
    deadline = time.monotonic() + EVENT_RETRY_S
    while True:
        try:
            publish(owner_id, type, data, job=job_id)
            return
        except (RedisError, OSError) as exc:
            if time.monotonic() > deadline:
                logger.error("could not publish %s for job %s: %s", type, job_id, exc)
                return
            time.sleep(0.5)


def _as_json(result: Any) -> Any:
    try:
        return orjson.loads(orjson.dumps(result))
    except TypeError as exc:
        raise JobFailed(f"the job's result is not JSON-serializable: {exc}") from None
