"""The verbs of the job domain: each combines a transaction, an enqueue and a publish."""

from __future__ import annotations

import contextlib
import json
import logging
from typing import Any

from django.db import IntegrityError, transaction
from kombu.exceptions import OperationalError
from redis.exceptions import RedisError

from jobs import conf, console, supervision
from jobs.exceptions import (
    EnqueueUnavailable,
    JobAlreadyFinished,
    JobNotFound,
    ParamsTooLarge,
    TooManyActiveJobs,
)
from jobs.models import Job, JobStatus
from jobs.registry import JobSpec, get_spec
from jobs.sharing import check_channel, share
from realtime import publish

logger = logging.getLogger(__name__)


def job_submit(
    *,
    owner: Any,
    task: str,
    params: Any = None,
    idempotency_key: str | None = None,
    channel: str | None = None,
    rerun_of: Job | None = None,
) -> Job:
    """Create a Job for ``owner`` and enqueue it once the row is committed.

    Raises ``UnknownTask``, ``InvalidParams`` or ``ParamsTooLarge`` for bad input,
    ``TooManyActiveJobs`` past the owner's cap, and ``EnqueueUnavailable`` when the broker
    cannot take it (the Job is then marked failed, never left queued). With an
    ``idempotency_key``, a repeat by the same owner returns the first Job. With a
    ``channel`` (``"team:42"``), the job's job.* events go there too (jobs/sharing.py):
    ``InvalidChannel`` unless its namespace carries jobs, ``ChannelForbidden`` unless the
    owner may read it. ``rerun_of`` links the new Job to the one it repeats (``job_rerun``).
    """
    settings = conf.get()
    spec = get_spec(task)
    if params is not None and _json_bytes(params) > settings.max_params_bytes:
        raise ParamsTooLarge(f"params are limited to {settings.max_params_bytes} bytes of JSON")
    clean = spec.validate(params)
    if channel is not None:
        check_channel(owner=owner, channel=channel)
    if idempotency_key:
        existing = Job.objects.owned_by(owner).filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing
    cap = settings.max_active_per_user
    if cap < 1 or Job.objects.owned_by(owner).active().order_by()[cap - 1 : cap].exists():
        raise TooManyActiveJobs(f"at most {settings.max_active_per_user} queued or running jobs per user")
    try:
        with transaction.atomic():
            job = Job.objects.create(
                owner=owner,
                task=task,
                params=clean,
                idempotency_key=idempotency_key,
                channel=channel,
                rerun_of=rerun_of,
            )
            transaction.on_commit(lambda: _dispatch(job, spec))
    except IntegrityError:
        # A concurrent request with the same key won the race: return its Job.
        return Job.objects.owned_by(owner).get(idempotency_key=idempotency_key)
    return job


def _json_bytes(params: Any) -> int:
    # Not orjson: it refuses integers past 64 bits, which are valid JSON (the schema judges them).
    return len(json.dumps(params, ensure_ascii=False, separators=(",", ":")).encode())


def _dispatch(job: Job, spec: JobSpec) -> None:
    job_id = str(job.id)
    try:
        queued = {"task": job.task, "attempt": 0}
        publish(job.owner_id, "job.queued", queued, job=job_id)
        if job.channel is not None:
            share(job.channel, job_id, "job.queued", queued)
        console.tell(job_id, "job.queued", {**queued, "owner": job.owner_id})
        spec.celery_task.apply_async(args=[job_id], task_id=job_id)
    except (OperationalError, RedisError, OSError) as exc:
        logger.error("cannot enqueue job %s: %s", job_id, exc)
        error = {"type": "EnqueueUnavailable", "message": "the job queue is unavailable"}
        if job.mark_failed(error):
            # With the broker on its own server, job.queued may have gone out: end it on the socket.
            failed = {"error": error, "attempt": 0}
            with contextlib.suppress(RedisError, OSError):
                publish(job.owner_id, "job.failed", failed, job=job_id)
            if job.channel is not None:
                share(job.channel, job_id, "job.failed", failed)
            console.tell(job_id, "job.failed", failed)
        raise EnqueueUnavailable("the job queue is unavailable; try again shortly") from exc


def job_cancel(*, owner: Any, job_id: Any) -> Job:
    """Ask for ``job_id`` to stop: a queued job never runs; a running one stops at its next
    ``ctx.progress()`` / ``ctx.check_cancelled()``, or by force after JOBS_CANCEL_GRACE_S.

    Raises ``JobNotFound`` (absent or not the owner's) and ``JobAlreadyFinished``.
    """
    job = Job.objects.owned_by(owner).filter(pk=job_id).first()
    if job is None:
        raise JobNotFound(str(job_id))
    if job.is_finished:
        raise JobAlreadyFinished(job.status)
    supervision.request_cancel(str(job.pk))  # seen by whichever worker runs it, now or later
    if job.status == JobStatus.QUEUED and job.mark_cancelled():
        cancelled = {"attempt": job.attempts, "forced": False}
        publish(job.owner_id, "job.cancelled", cancelled, job=str(job.pk))
        if job.channel is not None:
            share(job.channel, str(job.pk), "job.cancelled", cancelled)
        console.tell(str(job.pk), "job.cancelled", cancelled)
    elif job.status == JobStatus.RUNNING:
        job.request_cancel()
    elif job.status != JobStatus.CANCELLED:
        raise JobAlreadyFinished(job.status)
    return job


def job_rerun(job: Job) -> Job:
    """Start a new Job of ``job``'s task with its params, for its owner, linked to it.

    The new Job goes through ``job_submit``: the owner's cap, the task still being
    registered and the params still valid are checked again, and the same errors raised.
    """
    return job_submit(owner=job.owner, task=job.task, params=job.params, channel=job.channel, rerun_of=job)
