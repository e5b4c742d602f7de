"""Retention of Job rows: finished jobs are purged some time after they finish.

Only finished jobs (succeeded, failed, cancelled) are ever purged; a queued or running job is
kept however old it is. An idempotency key lives as long as its Job row: reusing it after the
row is purged creates a new job.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from jobs import conf
from jobs.models import TERMINAL, Job, JobQuerySet, JobStatus


def retention_period() -> timedelta | None:
    """``JOBS_RETENTION_DAYS`` as a period, or None when retention is off (0 or empty)."""
    days = conf.get().retention_days
    return timedelta(days=days) if days is not None and days > 0 else None


def purgeable(*, before: datetime) -> JobQuerySet:
    """The finished jobs that finished before ``before``."""
    # On the status, not on finished_at alone: nothing queued or running is ever purged, nor
    # a parent (whose children go with it) while one of its children is still active.
    active = (JobStatus.QUEUED, JobStatus.RUNNING)
    return Job.objects.filter(status__in=TERMINAL, finished_at__lt=before).exclude(
        children__status__in=active
    )


def purge_finished(
    *,
    older_than: timedelta,
    batch_size: int = 1000,
    on_batch: Callable[[int, int], None] | None = None,
    max_seconds: float | None = None,
) -> int:
    """Delete the jobs that finished more than ``older_than`` ago; return how many.

    In batches of ``batch_size``, oldest first, each deleted in its own short transaction,
    so that a large purge never holds a lock for long: web and worker writers take turns
    with it, on SQLite too. ``on_batch(deleted, total)`` is called after each batch. With
    ``max_seconds``, stops after the batch that ends past it (the rest waits for the next
    purge). Re-runs of a purged job stay, with their ``rerun_of`` emptied.
    """
    if older_than < timedelta(0):
        raise ValueError("older_than must not be negative")
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    # Fixed once, so that a long purge does not chase jobs that age while it runs.
    cutoff = timezone.now() - older_than
    deadline = None if max_seconds is None else time.monotonic() + max_seconds
    total = 0
    while True:
        # Chosen outside the transaction: on SQLite (IMMEDIATE transactions) a transaction
        # takes the write lock when it begins, and it should hold it only to delete.
        pks = list(purgeable(before=cutoff).order_by("finished_at").values_list("pk", flat=True)[:batch_size])
        if not pks:
            return total
        with transaction.atomic():
            # The collector empties the re-runs' rerun_of (SET_NULL) in the same transaction.
            # Filtered again: a row is deleted only if it is still finished and old.
            _, counts = purgeable(before=cutoff).filter(pk__in=pks).only("pk").delete()
        # What this batch deleted: another purge running at once may have taken some of them.
        deleted = counts.get(Job._meta.label, 0)
        total += deleted
        if on_batch is not None:
            on_batch(deleted, total)
        if len(pks) < batch_size or (deadline is not None and time.monotonic() >= deadline):
            return total


@shared_task(name="coucou.purge_jobs", ignore_result=True)
def purge_expired() -> int:
    """For Celery beat, if you run one (set ``JOBS_PURGE_INTERVAL_S=0`` to leave the purge to
    it): purge the finished jobs past ``JOBS_RETENTION_DAYS``; 0 when retention is off."""
    period = retention_period()
    if period is None:
        return 0
    return purge_finished(older_than=period, batch_size=conf.get().purge_batch_size)
