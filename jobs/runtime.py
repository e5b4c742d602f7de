"""Runs one delivery of a job in a worker: the body of every Celery task ``@job`` registers.

A delivery may be a first run, a retry, a redelivery after the worker died, or a duplicate
(Redis redelivers unacknowledged messages after the visibility timeout). The Job row decides:
a finished job is left alone, a job still running elsewhere is left alone, and a job whose
last attempt died with its worker is queued again or failed (``recover_lost``).
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from functools import partial
from typing import Any

import orjson
from django.utils import timezone

from jobs import alerts, children, conf, console, lifecycle, metrics
from jobs.context import JobContext, progress_data
from jobs.exceptions import JobCancelled, JobFailed
from jobs.models import Job, JobStatus
from jobs.registry import JobSpec, get_spec
from jobs.sharing import share
from jobs.supervision import HOST, cancel_requested, has_heartbeat, previous_attempt_alive, supervisor
from realtime import publish

logger = logging.getLogger(__name__)


def execute(job_id: str, *, task_name: str, worker: str | None = None) -> None:
    spec = get_spec(task_name)
    watcher = supervisor()
    worker = worker or HOST

    def heartbeat(job: Job) -> None:
        # The heartbeat first: a running job without one looks lost to a duplicate or the reaper.
        watcher.watch(str(job.id), hard_stop=partial(_stopped_by_force, job))

    job = lifecycle.do_start(job_id, task=task_name, worker=worker, before_event=heartbeat)
    if job is None:
        _not_claimed(job_id, task_name)
        return
    try:
        if job.attempts == 1 and job.started_at is not None:
            # A first attempt only: a retry's wait includes its earlier attempts and its backoff.
            wait_s = (job.started_at - job.created_at).total_seconds()
            metrics.started(task_name, wait_s)
            alerts.check_claimed(job, spec, wait_s)
        _attempt(job, spec, is_cancelled=partial(watcher.is_cancelled, str(job.id)))
    finally:
        watcher.release(str(job.id))


def _not_claimed(job_id: str, task_name: str) -> None:
    """The delivery found its job not queued: tell why, or recover it from a dead worker."""
    job = Job.objects.filter(pk=job_id).first()
    if job is None or job.task != task_name:
        logger.warning("ignoring %s for job %s: no such job of that task", task_name, job_id)
    elif job.status == JobStatus.RUNNING and job.awaiting_children:
        logger.info("job %s awaits its children: ignoring a late delivery", job_id)
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


def _attempt(job: Job, spec: JobSpec, *, is_cancelled: Any) -> None:
    settings = conf.get()
    ctx = JobContext(
        job_id=str(job.id),
        owner_id=job.owner_id,
        task=job.task,
        attempt=job.attempts,
        emit=partial(_emit, job.owner_id, str(job.id), job.channel),
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
        lifecycle.do_cancel(job)
    except Exception as exc:  # noqa: BLE001 - every failure of a body ends its attempt
        close()
        _failed(job, spec, exc)
    else:
        close()
        if ctx.spawned or (job.attempts > 1 and job.children.exists()):
            lifecycle.do_await_children(job, result)  # its children end it
        else:
            lifecycle.do_succeed(job, result)


def _stopped_by_force(job: Job) -> None:
    """The supervisor's hard stop of a body that ignored its cancel past the grace period."""
    lifecycle.do_cancel(job, forced=True)


def _failed(job: Job, spec: JobSpec, exc: Exception) -> None:
    if not isinstance(exc, JobFailed):
        logger.exception("job %s (%s) attempt %s failed", job.id, job.task, job.attempts)
    error = {"type": type(exc).__name__, "message": str(exc)}
    retry = spec.retry
    # JobFailed is the body saying "this job cannot succeed": never worth another attempt.
    retryable = retry is not None and isinstance(exc, retry.on) and not isinstance(exc, JobFailed)
    delay = retry.delay_after(job.attempts) if retry and retryable else None
    if delay is not None and cancel_requested(str(job.id)):
        # The owner asked to stop while this attempt ran: another one would undo that.
        lifecycle.do_cancel(job)
    elif delay is None or not lifecycle.do_retry(job, error, delay=delay, reason="error"):
        lifecycle.do_fail(job, error)


def recover_lost(job: Job) -> None:
    """The attempt running ``job`` died with its worker: queue it again, or fail it.

    A job its owner asked to cancel is cancelled instead: running it again would undo that.
    """
    # Each transition ``held``: a parent whose body returned (awaiting its children) since
    # the caller read it has no worker to lose, and is left alone.
    metrics.recovered(job.task)
    if job.cancel_requested_at is not None:
        lifecycle.do_cancel(job, forced=True, held=True)
    elif job.attempts >= conf.get().max_attempts:
        message = f"its worker died during each of {job.attempts} attempts"
        lifecycle.do_fail(job, {"type": "WorkerLost", "message": message}, held=True)
    else:
        error = {"type": "WorkerLost", "message": "its worker died; running it again"}
        lifecycle.do_retry(job, error, delay=0, reason="worker_lost", held=True)


def _save_progress(job: Job, current: float, total: float | None, message: str) -> None:
    """Write progress to the row, and tell the console and a parent: at the row's rate."""
    job.set_progress(current, total, message)
    console.tell(str(job.pk), "job.progress", progress_data(current, total, message))
    if job.parent_id is not None:
        children.child_progressed(job)


def _emit(owner_id: int, job_id: str, channel: str | None, type: str, data: dict[str, Any]) -> None:
    """What a body sends between its lifecycle events: progress, and its own ``ctx.push``."""
    if type == "job.progress":
        publish(owner_id, type, data, job=job_id)  # JobContext retries on its next tick
        if channel is not None:
            share(channel, job_id, type, data)  # the next progress or the end event follows
        return
    # A body's own event waits out a Redis restart, like a lifecycle event.
    deadline = time.monotonic() + lifecycle.EVENT_RETRY_S
    lifecycle.publish_until(deadline, publish, owner_id, type, data, job_id)


def _as_json(result: Any) -> Any:
    try:
        return orjson.loads(orjson.dumps(result))
    except TypeError as exc:
        raise JobFailed(f"the job's result is not JSON-serializable: {exc}") from None
