"""Finds jobs whose worker died, from every worker's main process (see supervision.py)."""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

from celery.signals import worker_ready
from django.db import close_old_connections
from django.utils import timezone

from jobs import conf
from jobs.models import Job
from jobs.runtime import recover_lost
from jobs.supervision import heartbeat_key
from realtime.redis import sync_client

logger = logging.getLogger(__name__)


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


def _reap_forever() -> None:
    while True:
        time.sleep(conf.get().reap_interval_s)
        try:
            close_old_connections()  # this thread's own: replaced when broken or old
            reap_lost_jobs()
        except Exception as exc:  # noqa: BLE001 - the next sweep tries again
            logger.warning("reaping lost jobs failed: %s", exc)


@worker_ready.connect
def start_reaper(**_: object) -> None:
    threading.Thread(target=_reap_forever, name="coucou-reaper", daemon=True).start()
