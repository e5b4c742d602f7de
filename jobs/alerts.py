"""Long-wait alerts: a job that waits in the queue past its threshold is reported, once.

The threshold is the task's ``@job(..., long_wait_s=...)``, else ``JOBS_LONG_WAIT_S`` (60 s;
0 turns the global one off). Two places see a long wait: a worker claiming a job whose first
attempt starts late (``check_claimed``), and the workers' periodic sweep for jobs still queued
(``detect_long_waits``). Either way the job is reported at most once across all workers (a
Redis ``SET NX`` per job): a WARNING log line, ``coucou_job_long_waits_total{task}`` and the
``long_wait_detected`` signal (jobs/signals.py).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from functools import reduce
from operator import or_

from django.db.models import Q
from django.utils import timezone

from jobs import conf, metrics
from jobs.models import Job, JobStatus
from jobs.registry import JobSpec, all_specs
from jobs.signals import long_wait_detected
from realtime.redis import sync_client

logger = logging.getLogger(__name__)
ALERTED_TTL_S = 7 * 24 * 3600
SWEEP_LIMIT = 500


def alerted_key(job_id: str) -> str:
    return f"coucou:job:{job_id}:long-wait"


def threshold_for(spec: JobSpec) -> float | None:
    """Seconds a job of ``spec`` may wait before its alert; None: never alerted."""
    if spec.long_wait_s is not None:
        return spec.long_wait_s or None
    return conf.get().long_wait_s


def check_claimed(job: Job, spec: JobSpec, wait_s: float) -> bool:
    """A worker just started ``job``'s first attempt after ``wait_s`` in the queue: alert if
    that passed the threshold (and no sweep alerted it already). Never raises: the job runs."""
    threshold = threshold_for(spec)
    if threshold is None or wait_s < threshold:
        return False
    try:
        if not sync_client().set(alerted_key(str(job.pk)), "1", nx=True, ex=ALERTED_TTL_S):
            return False
    except Exception as exc:  # noqa: BLE001 - an alert never stops a job
        logger.warning("could not record the long wait of job %s: %s", job.pk, exc)
        return False
    _report(
        job_id=str(job.pk),
        task=job.task,
        owner_id=job.owner_id,
        wait_s=wait_s,
        threshold_s=threshold,
        queued=False,
    )
    return True


def detect_long_waits() -> int:
    """Alert every job still queued past its threshold, not alerted before; return how many.

    For the workers' periodic sweep: cheap to run every few seconds on every worker. It reads
    jobs not yet finished (the ``finished_at`` index) that never started, newest first: jobs
    cross their threshold in the order they were created, so the ones not yet alerted are
    the newest among them, and ``SWEEP_LIMIT`` per run bounds a large backlog.
    """
    now = timezone.now()
    thresholds = {spec.name: t for spec in all_specs() if (t := threshold_for(spec)) is not None}
    if not thresholds:
        return 0
    overdue = reduce(
        or_, (Q(task=task, created_at__lt=now - timedelta(seconds=t)) for task, t in thresholds.items())
    )
    waiting = list(
        Job.objects.filter(overdue, finished_at__isnull=True, status=JobStatus.QUEUED, attempts=0)
        .order_by("-created_at")
        .values_list("pk", "task", "owner_id", "created_at")[:SWEEP_LIMIT]
    )
    if not waiting:
        return 0
    pipe = sync_client().pipeline(transaction=False)
    for pk, *_ in waiting:
        pipe.set(alerted_key(str(pk)), "1", nx=True, ex=ALERTED_TTL_S)
    firsts = pipe.execute()
    alerted = 0
    for (pk, task, owner_id, created_at), first in zip(waiting, firsts, strict=True):
        if first:
            wait_s = (now - created_at).total_seconds()
            _report(
                job_id=str(pk),
                task=task,
                owner_id=owner_id,
                wait_s=wait_s,
                threshold_s=thresholds[task],
                queued=True,
            )
            alerted += 1
    return alerted


def _report(
    *, job_id: str, task: str, owner_id: int, wait_s: float, threshold_s: float, queued: bool
) -> None:
    logger.warning(
        "long wait: job %s (%s) %s %.1fs in the queue, past its threshold of %.1fs",
        job_id,
        task,
        "has waited" if queued else "started after",
        wait_s,
        threshold_s,
    )
    metrics.waited_long(task)
    replies = long_wait_detected.send_robust(
        sender=Job,
        job_id=job_id,
        task=task,
        owner_id=owner_id,
        wait_s=wait_s,
        threshold_s=threshold_s,
        queued=queued,
    )
    for receiver, reply in replies:
        if isinstance(reply, Exception):
            logger.error("long_wait_detected receiver %r failed: %r", receiver, reply, exc_info=reply)
