from __future__ import annotations

import os

from typing import Any

from celery import Celery
from celery.backends.base import DisabledBackend
from celery.signals import task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")



class NoResults(DisabledBackend):
    """No result backend: the Job row holds every result.

    Celery's own ``disabled`` backend is not marked thread-safe, so each thread builds its
    own, and building one scans every installed package's entry points. Under ASGI each
    request runs its sync view on a new thread: that scan was a third of ``POST /api/jobs``'s
    time (bench/RESULTS.md). This one holds no state and is built once per process.
    """

    thread_safe = True


app = Celery("coucou")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Jobs register their Celery tasks when the jobs app is ready (see jobs/apps.py).


@task_prerun.connect
@task_postrun.connect
def close_old_connections(**_: Any) -> None:
    """Around each task, what Django does around each request: close a connection that is
    older than CONN_MAX_AGE or broken, keep the others (see CELERY_DB_REUSE_MAX)."""
    from django.db import close_old_connections

    close_old_connections()
