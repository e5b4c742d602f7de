"""The verbs of the job domain: submit, cancel, re-run. Each status change they make goes
through jobs/lifecycle.py, which sends its event once it is committed."""

from __future__ import annotations

import contextlib
import json
import logging
from typing import Any

from django.db import IntegrityError, transaction
from kombu.exceptions import OperationalError
from redis.exceptions import RedisError

from jobs import conf, lifecycle, metrics
from jobs.exceptions import (
    EnqueueUnavailable,
    JobAlreadyFinished,
    JobNotFound,
    ParamsTooLarge,
    TooManyActiveJobs,
)
from jobs.models import Job, JobStatus
from jobs.registry import JobSpec, get_spec
from jobs.sharing import check_channel

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
    # Child jobs are their parent's work, not the owner's jobs: only top-level ones count.
    mine = Job.objects.owned_by(owner).active().filter(parent__isnull=True)
    if cap < 1 or mine.order_by()[cap - 1 : cap].exists():
        raise TooManyActiveJobs(f"at most {settings.max_active_per_user} queued or running jobs per user")
    # Inside a caller's transaction, the job is enqueued when it commits (never if it rolls
    # back), and a broker that refuses it then fails the Job without raising into that commit.
    # Outside one, it is enqueued right after its row is committed, and EnqueueUnavailable
    # reaches the caller (the API's 503).
    deferred = transaction.get_connection().in_atomic_block
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
            lifecycle.do_queue(job)
    except IntegrityError:
        # A concurrent request with the same key won the race: return its Job.
        return Job.objects.owned_by(owner).get(idempotency_key=idempotency_key)
    if deferred:

        def enqueue_job() -> None:  # named: Django's robust on_commit logs its __qualname__
            with contextlib.suppress(EnqueueUnavailable):  # the Job is failed, and told
                enqueue(job, spec)

        transaction.on_commit(enqueue_job, robust=True)
    else:
        enqueue(job, spec)
    return job


def _json_bytes(params: Any) -> int:
    # Not orjson: it refuses integers past 64 bits, which are valid JSON (the schema judges them).
    return len(json.dumps(params, ensure_ascii=False, separators=(",", ":")).encode())


def enqueue(job: Job, spec: JobSpec, *, patient: bool = False) -> None:
    """Send the committed ``job``'s Celery message; if the broker refuses it, fail the Job
    (its event ``patient`` in a worker) and raise ``EnqueueUnavailable``."""
    job_id = str(job.id)
    try:
        spec.celery_task.apply_async(args=[job_id], task_id=job_id)
    except (OperationalError, RedisError, OSError) as exc:
        logger.error("cannot enqueue job %s: %s", job_id, exc)
        metrics.enqueue_failed(job.task)
        # With the broker on its own server, job.queued went out: job.failed ends it on the socket.
        error = {"type": "EnqueueUnavailable", "message": "the job queue is unavailable"}
        lifecycle.do_fail(job, error, patient=patient)
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
    running = job.status == JobStatus.RUNNING
    if not lifecycle.stop(job, patient=False) and not running and job.status != JobStatus.CANCELLED:
        raise JobAlreadyFinished(job.status)
    return job


def job_rerun(job: Job) -> Job:
    """Start a new Job of ``job``'s task with its params, for its owner, linked to it.

    The new Job goes through ``job_submit``: the owner's cap, the task still being
    registered and the params still valid are checked again, and the same errors raised.
    """
    return job_submit(owner=job.owner, task=job.task, params=job.params, channel=job.channel, rerun_of=job)
