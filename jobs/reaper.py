"""Periodic checks in every worker's main process: jobs whose worker died (see
supervision.py), the purge of finished jobs past retention (see retention.py), and jobs
waiting in the queue past their long-wait threshold (see alerts.py).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import timedelta

from celery.signals import worker_ready
from django.db import close_old_connections
from django.utils import timezone

from jobs import conf
from jobs.alerts import detect_long_waits
from jobs.children import settle_parents
from jobs.models import Job
from jobs.retention import purge_finished, purgeable, retention_period
from jobs.runtime import recover_lost
from jobs.supervision import HOST, heartbeat_key
from realtime.redis import sync_client

logger = logging.getLogger(__name__)
PURGE_LOCK_KEY = "coucou:jobs:purge"
# A sweep's purge stops after this long, so that a large backlog (the first purge of a busy
# deployment) does not hold up the reaping of lost jobs: the next sweep goes on with it.
PURGE_SWEEP_BUDGET_S = 2.0


def reap_lost_jobs() -> int:
    """Recover every running job whose heartbeat expired; return how many."""
    settings = conf.get()
    ttl = settings.heartbeat_ttl_s
    suspects = list(Job.objects.running_since(timezone.now() - timedelta(seconds=ttl))[:500])
    if not suspects:
        return 0
    client = sync_client()
    beats = client.mget([heartbeat_key(str(job.pk)) for job in suspects])
    recovered = 0
    for job, beat in zip(suspects, beats, strict=True):
        # One reaper per job, however many workers sweep at once.
        if beat is None and client.set(f"coucou:job:{job.pk}:reaping", "1", nx=True, ex=int(ttl) + 1):
            logger.warning("job %s lost its worker (attempt %s)", job.pk, job.attempts)
            recover_lost(job)
            recovered += 1
    return recovered


def purge_expired_jobs() -> int | None:
    """Purge the finished jobs past ``JOBS_RETENTION_DAYS``, at most once per
    ``JOBS_PURGE_INTERVAL_S`` across all workers; return how many, or None when it was not
    this call's turn (another worker purged within the interval), retention is off, or
    ``JOBS_PURGE_INTERVAL_S`` is 0 (Celery beat runs ``coucou.purge_jobs`` instead).
    """
    settings = conf.get()
    period = retention_period()
    if period is None or settings.purge_interval_s <= 0:  # off, or left to Celery beat
        return None
    client = sync_client()
    lock_s = max(1, round(settings.purge_interval_s))
    if not client.set(PURGE_LOCK_KEY, f"{HOST}:{os.getpid()}", nx=True, ex=lock_s):
        return None
    purged = purge_finished(
        older_than=period, batch_size=settings.purge_batch_size, max_seconds=PURGE_SWEEP_BUDGET_S
    )
    logger.info("purged %s finished jobs older than %s", purged, period)
    if purged and purgeable(before=timezone.now() - period).exists():
        # Cut short by the budget: the next sweep, on any worker, goes on with it.
        client.delete(PURGE_LOCK_KEY)
    return purged


# Each check runs every JOBS_REAP_INTERVAL_S in every worker's main process; one that must
# run less often, or on one worker at a time, keeps its own Redis lock (purge_expired_jobs).
PERIODIC_CHECKS: tuple[tuple[str, Callable[[], object]], ...] = (
    ("reaping lost jobs", reap_lost_jobs),
    ("purging finished jobs", purge_expired_jobs),
    ("detecting long waits", detect_long_waits),
    ("settling parents of ended children", settle_parents),
)


def run_periodic_checks() -> None:
    for name, check in PERIODIC_CHECKS:
        try:
            close_old_connections()  # this thread's own: replaced when broken or old
            check()
        except Exception as exc:  # noqa: BLE001 - the next sweep tries again
            logger.warning("%s failed: %s", name, exc)


def _sweep_forever() -> None:
    while True:
        time.sleep(conf.get().reap_interval_s)
        run_periodic_checks()


@worker_ready.connect
def start_reaper(**_: object) -> None:
    threading.Thread(target=_sweep_forever, name="coucou-reaper", daemon=True).start()
