"""The verbs of the job domain: each combines a transaction, an enqueue and a publish."""

from __future__ import annotations

import logging
from typing import Any

from django.db import IntegrityError, transaction
from kombu.exceptions import OperationalError
from redis.exceptions import RedisError

from jobs.exceptions import EnqueueUnavailable
from jobs.models import Job
from jobs.registry import JobSpec, get_spec
from realtime import publish

logger = logging.getLogger(__name__)


def job_submit(*, owner: Any, task: str, params: Any = None, idempotency_key: str | None = None) -> Job:
    """Create a Job for ``owner`` and enqueue it once the row is committed.

    Raises ``UnknownTask`` or ``InvalidParams`` for bad input, and ``EnqueueUnavailable``
    when the broker cannot take it (the Job is then marked failed, never left queued).
    With an ``idempotency_key``, a repeat by the same owner returns the first Job.
    """
    spec = get_spec(task)
    clean = spec.validate(params)
    if idempotency_key:
        existing = Job.objects.owned_by(owner).filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing
    try:
        with transaction.atomic():
            job = Job.objects.create(owner=owner, task=task, params=clean, idempotency_key=idempotency_key)
            transaction.on_commit(lambda: _dispatch(job, spec))
    except IntegrityError:
        # A concurrent request with the same key won the race: return its Job.
        return Job.objects.owned_by(owner).get(idempotency_key=idempotency_key)
    return job


def _dispatch(job: Job, spec: JobSpec) -> None:
    job_id = str(job.id)
    try:
        publish(job.owner_id, "job.queued", {"task": job.task, "attempt": 0}, job=job_id)
        spec.celery_task.apply_async(args=[job_id], task_id=job_id)
    except (OperationalError, RedisError, OSError) as exc:
        logger.error("cannot enqueue job %s: %s", job_id, exc)
        job.mark_failed({"type": "EnqueueUnavailable", "message": "the job queue is unavailable"})
        raise EnqueueUnavailable("the job queue is unavailable; try again shortly") from exc
