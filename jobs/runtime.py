"""Runs one delivery of a job in a worker: the body of every Celery task ``@job`` registers.

A delivery may be a first run, a retry, a redelivery after the worker died, or a duplicate
(Redis redelivers unacknowledged messages after the visibility timeout). The Job row decides:
a finished job is left alone, a job still running elsewhere is left alone, and a job whose
last attempt died with its worker is queued again or failed (``recover_lost``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import Any

import orjson
from django.utils import timezone
from redis.exceptions import RedisError

from jobs import alerts, conf, console, metrics
from jobs.context import JobContext, progress_data
from jobs.exceptions import JobCancelled, JobFailed
from jobs.models import Job, JobStatus
from jobs.registry import JobSpec, get_spec
from jobs.sharing import share, shared
from jobs.supervision import HOST, cancel_requested, has_heartbeat, previous_attempt_alive, supervisor
from realtime import ChannelError, publish, publish_to

logger = logging.getLogger(__name__)
EVENT_RETRY_S = 30.0


def execute(job_id: str, *, task_name: str, worker: str | None = None) -> None:
    spec = get_spec(task_name)
    job = Job.objects.claim(job_id, task=task_name)
    if job is None:
        _not_claimed(job_id, task_name)
        return
    if job.attempts == 1 and job.started_at is not None:
        # A first attempt only: a retry's wait includes its earlier attempts and its backoff.
        wait_s = (job.started_at - job.created_at).total_seconds()
        metrics.started(task_name, wait_s)
        alerts.check_claimed(job, spec, wait_s)
    _run(job, spec, worker or HOST)


def _not_claimed(job_id: str, task_name: str) -> None:
    """The delivery found its job not queued: tell why, or recover it from a dead worker."""
    job = Job.objects.filter(pk=job_id).first()
    if job is None or job.task != task_name:
        logger.warning("ignoring %s for job %s: no such job of that task", task_name, job_id)
    elif job.status == JobStatus.RUNNING:
        if previous_attempt_alive(job_id):
            logger.info("job %s runs elsewhere: ignoring a duplicate delivery", job_id)
        elif _just_claimed(job):
            logger.info("job %s was started moments ago elsewhere: ignoring a duplicate delivery", job_id)
        else:
            recover_lost(job)
    # Finished, or queued again since the claim (a retry): its own delivery runs it.


def _just_claimed(job: Job) -> bool:
    """Claimed by another delivery that has not written its heartbeat yet.

    Two deliveries of one message can arrive together (a requeue after a worker died racing
    the recovery's own message): the loser must not take the winner for dead in the moment
    between its claim and its heartbeat. If the winner did die there, the reaper recovers
    the job once a heartbeat would have expired, as for any job without one.
    """
    ttl = timedelta(seconds=conf.get().heartbeat_ttl_s)
    recent = job.started_at is not None and job.started_at > timezone.now() - ttl
    return recent and not has_heartbeat(str(job.pk))


def _run(job: Job, spec: JobSpec, worker: str) -> None:
    emit = partial(_emit, job.owner_id, str(job.id), job.channel)
    watcher = supervisor()
    # The heartbeat first: a running job without one looks lost to a duplicate or the reaper.
    watcher.watch(str(job.id), hard_stop=partial(_cancelled, job, emit, job.attempts, forced=True))
    try:
        emit("job.started", {"attempt": job.attempts, "worker": worker})
        _attempt(job, spec, emit, is_cancelled=partial(watcher.is_cancelled, str(job.id)))
    finally:
        watcher.release(str(job.id))


def _attempt(job: Job, spec: JobSpec, emit: Any, *, is_cancelled: Any) -> None:
    settings = conf.get()
    attempt = job.attempts
    ctx = JobContext(
        job_id=str(job.id),
        owner_id=job.owner_id,
        task=job.task,
        attempt=attempt,
        emit=emit,
        save_progress=partial(_save_progress, job),
        is_cancelled=is_cancelled,
        max_hz=settings.progress_max_hz,
        db_interval=settings.progress_db_interval_s,
    )
    began = time.monotonic()

    def close() -> None:
        metrics.ran(job.task, time.monotonic() - began)
        ctx.close()

    try:
        params = spec.parse(job.params)
        result = _as_json(spec.fn(ctx) if params is None else spec.fn(ctx, params))
    except JobCancelled:
        close()
        _cancelled(job, emit, attempt)
    except Exception as exc:  # noqa: BLE001 - every failure of a body ends its attempt
        close()
        _failed(job, spec, emit, exc)
    else:
        close()
        if job.mark_succeeded(result):
            metrics.ended(job.task, "succeeded")
            emit("job.succeeded", {"result": result, "attempt": attempt})


def _cancelled(job: Job, emit: Any, attempt: int, *, forced: bool = False) -> None:
    if job.mark_cancelled():
        metrics.ended(job.task, "cancelled")
        if forced:
            metrics.forced_cancel(job.task)
        emit("job.cancelled", {"attempt": attempt, "forced": forced})


def _failed(job: Job, spec: JobSpec, emit: Any, exc: Exception) -> None:
    if not isinstance(exc, JobFailed):
        logger.exception("job %s (%s) attempt %s failed", job.id, job.task, job.attempts)
    error = {"type": type(exc).__name__, "message": str(exc)}
    retry = spec.retry
    # JobFailed is the body saying "this job cannot succeed": never worth another attempt.
    retryable = retry is not None and isinstance(exc, retry.on) and not isinstance(exc, JobFailed)
    delay = retry.delay_after(job.attempts) if retry and retryable else None
    if delay is not None and cancel_requested(str(job.id)):
        # The owner asked to stop while this attempt ran: another one would undo that.
        _cancelled(job, emit, job.attempts)
    elif delay is not None and job.mark_retrying(error):
        metrics.retried(job.task, "error")
        emit("job.retrying", {"attempt": job.attempts, "delay": delay, "error": error})
        spec.celery_task.apply_async(args=[str(job.id)], task_id=str(job.id), countdown=delay)
    elif job.mark_failed(error):
        metrics.ended(job.task, "failed")
        emit("job.failed", {"error": error, "attempt": job.attempts})


def recover_lost(job: Job) -> None:
    """The attempt running ``job`` died with its worker: queue it again, or fail it.

    A job its owner asked to cancel is cancelled instead: running it again would undo that.
    """
    emit = partial(_emit, job.owner_id, str(job.id), job.channel)
    metrics.recovered(job.task)
    if job.cancel_requested_at is not None:
        _cancelled(job, emit, job.attempts, forced=True)
        return
    if job.attempts >= conf.get().max_attempts:
        error = {"type": "WorkerLost", "message": f"its worker died during each of {job.attempts} attempts"}
        if job.mark_failed(error):
            metrics.ended(job.task, "failed")
            emit("job.failed", {"error": error, "attempt": job.attempts})
        return
    error = {"type": "WorkerLost", "message": "its worker died; running it again"}
    if job.mark_retrying(error):
        metrics.retried(job.task, "worker_lost")
        emit("job.retrying", {"attempt": job.attempts, "delay": 0, "error": error})
        get_spec(job.task).celery_task.apply_async(args=[str(job.id)], task_id=str(job.id))


def _save_progress(job: Job, current: float, total: float | None, message: str) -> None:
    """Write progress to the row, and tell the console: at the row's rate, not the owner's."""
    job.set_progress(current, total, message)
    console.tell(str(job.pk), "job.progress", progress_data(current, total, message))


def _emit(owner_id: int, job_id: str, channel: str | None, type: str, data: dict[str, Any]) -> None:
    if type == "job.progress":
        publish(owner_id, type, data, job=job_id)  # JobContext retries on its next tick
        if channel is not None:
            share(channel, job_id, type, data)  # the next progress or the end event follows
        return
    # Lifecycle events wait out a Redis restart. The Job row is written first and stays the
    # truth, so an event that still cannot be published is logged, never fatal to the job.
    deadline = time.monotonic() + EVENT_RETRY_S
    _publish_until(deadline, publish, owner_id, type, data, job_id)
    if channel is not None and shared(type):
        _publish_until(deadline, publish_to, channel, type, data, job_id)
    if shared(type):
        console.tell(job_id, type, data)  # once: the operators' page reloads the row anyway


def _publish_until(
    deadline: float, send: Callable[..., int], to: int | str, type: str, data: dict[str, Any], job_id: str
) -> None:
    while True:
        try:
            send(to, type, data, job=job_id)
            return
        except ChannelError as exc:  # its namespace is no longer declared: retrying cannot help
            logger.error("could not publish %s for job %s: %s", type, job_id, exc)
            metrics.publish_failed("lifecycle")
            return
        except (RedisError, OSError) as exc:
            if time.monotonic() > deadline:
                logger.error("could not publish %s for job %s: %s", type, job_id, exc)
                metrics.publish_failed("lifecycle")
                return
            time.sleep(0.5)


def _as_json(result: Any) -> Any:
    try:
        return orjson.loads(orjson.dumps(result))
    except TypeError as exc:
        raise JobFailed(f"the job's result is not JSON-serializable: {exc}") from None
