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

from celery.signals import task_received, worker_ready
from django.db import close_old_connections
from django.utils import timezone

from jobs import conf
from jobs.alerts import detect_long_waits
from jobs.children import settle_parents
from jobs.models import Job, JobStatus
from jobs.registry import get_spec
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


# --- messages a dead worker had received but not started ------------------------------------
# A worker's main process takes messages ahead of its pool (prefetch); with late acks, one it
# had not handed to a child when it was SIGKILLed stays unacknowledged in the broker until
# the visibility timeout (an hour), and its job queued all that while. Each main process
# marks the messages it receives and says every sweep that it is alive; a sweep finding a
# queued job whose message went to a worker no longer alive sends it again (the late copy,
# when it comes back, finds the job started or finished and is ignored).
_worker: dict[str, str] = {}  # this process's worker hostname, once it is ready


def received_key(job_id: str) -> str:
    return f"coucou:job:{job_id}:received"


def alive_key(hostname: str) -> str:
    return f"coucou:worker:{hostname}:alive"


@task_received.connect
def mark_received(request: object = None, **_: object) -> None:
    job_id, hostname = getattr(request, "id", None), getattr(request, "hostname", None)
    if job_id and hostname:
        try:
            ttl = int(conf.get().heartbeat_ttl_s * 360) + 60  # well past any wait in the queue
            sync_client().set(received_key(job_id), f"{hostname}|{time.time():.3f}", ex=ttl)
        except Exception as exc:  # noqa: BLE001 - a mark is a help, never a reason to refuse work
            logger.warning("could not mark job %s received: %s", job_id, exc)


def say_alive() -> None:
    hostname = _worker.get("hostname")
    if hostname:
        ttl_ms = int(max(3 * conf.get().reap_interval_s, conf.get().heartbeat_ttl_s) * 1000)
        sync_client().set(alive_key(hostname), "1", px=ttl_ms)


def redeliver_stranded() -> int:
    """Send again the queued jobs whose message a worker no longer alive had received and
    not started; return how many."""
    queued = list(
        Job.objects.filter(status=JobStatus.QUEUED, finished_at__isnull=True)
        .order_by("created_at")
        .values_list("pk", "task", "started_at")[:500]
    )
    if not queued:
        return 0
    client = sync_client()
    marks = client.mget([received_key(str(pk)) for pk, _, _ in queued])
    held = [
        (pk, task, hostname, float(at))
        for (pk, task, started_at), mark in zip(queued, marks, strict=True)
        if mark is not None
        for hostname, _, at in [(mark if isinstance(mark, str) else mark.decode()).partition("|")]
        # A mark older than the job's last start is an earlier attempt's: a retry's message
        # is its own, with its own delay.
        if started_at is None or started_at.timestamp() < float(at)
    ]
    if not held:
        return 0
    alive = client.mget([alive_key(hostname) for _, _, hostname, _ in held])
    sent = 0
    for (pk, task, hostname, _), beat in zip(held, alive, strict=True):
        if beat is not None or not client.set(f"coucou:job:{pk}:redelivering", "1", nx=True, ex=60):
            continue
        logger.warning("job %s was received by %s, which died before starting it: sent again", pk, hostname)
        client.delete(received_key(str(pk)))
        get_spec(task).celery_task.apply_async(args=[str(pk)], task_id=str(pk))
        sent += 1
    return sent


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
    ("saying this worker is alive", say_alive),
    ("reaping lost jobs", reap_lost_jobs),
    ("sending again what a dead worker had received", redeliver_stranded),
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
def start_reaper(sender: object = None, **_: object) -> None:
    hostname = getattr(sender, "hostname", None)
    if hostname:
        _worker["hostname"] = hostname
        try:
            say_alive()
        except Exception as exc:  # noqa: BLE001 - the sweep says it again
            logger.warning("could not say worker %s is alive: %s", hostname, exc)
    threading.Thread(target=_sweep_forever, name="coucou-reaper", daemon=True).start()
