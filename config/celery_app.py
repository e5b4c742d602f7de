from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import (
    celeryd_init,
    task_postrun,
    task_prerun,
    worker_process_shutdown,
    worker_ready,
    worker_shutdown,
)

from config import broker, worker

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
broker.install()  # kombu's Redis transport, keeping its Redis clients (config/broker.py)

app = Celery("coucou")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Jobs register their Celery tasks when the jobs app is ready (see jobs/apps.py).


@task_prerun.connect
@task_postrun.connect
def close_old_connections(task: Any = None, **_: Any) -> None:
    """Around each task, what Django does around each request: close a connection that is
    older than CONN_MAX_AGE or broken, keep the others (see CELERY_DB_REUSE_MAX).

    Not around an eager task: it runs inside the caller, maybe inside a transaction.
    """
    if task is not None and getattr(task.request, "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()


# The worker's metrics (config/worker.py). celeryd_init is the worker's first signal, before
# Celery's Django fixup sets Django up, and so before anything imports prometheus_client.
@celeryd_init.connect
def prepare_metrics(**_: Any) -> None:
    worker.prepare_metrics_dir()


@worker_ready.connect
def serve_metrics(**_: Any) -> None:
    worker.serve_metrics()


@worker_shutdown.connect
def stop_metrics(**_: Any) -> None:
    worker.stop_metrics()


@worker_process_shutdown.connect
def forget_pool_process(pid: int | None = None, **_: Any) -> None:
    worker.forget_process(pid or os.getpid())
