"""How a ``django.tasks`` task becomes a Coucou job, and runs as one, on any Django.

A task enqueued through ``CoucouBackend`` is a Job named ``django:<module path>`` whose params
are ``{"args": [...], "kwargs": {...}}``. One Celery task, ``coucou.django_task``, carries every
such job: it reads the job's name from its row and hands it to ``jobs.runtime.execute``.

Clients name tasks too (``POST /api/jobs``). So resolving a ``django:`` name imports nothing,
and only the backend's ``enqueue`` may submit one (``submitting()``); for anyone else, the
spec refuses as an unknown task. The task is imported by the worker that runs a job the
backend created, and must then be a ``django.tasks.Task`` at that path.

This module imports no ``django.tasks``: ``jobs/apps.py`` loads it on Django 5.2 too, where
no ``django:`` job can exist.
"""

from __future__ import annotations

import contextvars
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from celery import shared_task
from pydantic import BaseModel, ConfigDict

from jobs.context import JobContext
from jobs.exceptions import JobFailed, UnknownTask
from jobs.registry import JobSpec, add_resolver

logger = logging.getLogger(__name__)

PREFIX = "django"
CELERY_TASK = "coucou.django_task"
_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")
MAX_PATH = 200 - len(PREFIX) - 1  # Job.task's length

_submitting: contextvars.ContextVar[bool] = contextvars.ContextVar("coucou_django_submit", default=False)
current_job: contextvars.ContextVar[JobContext | None] = contextvars.ContextVar(
    "coucou_django_job", default=None
)


class TaskArgs(BaseModel):
    """A ``django.tasks`` call, as a Job stores it."""

    model_config = ConfigDict(extra="forbid")
    args: list[Any] = []
    kwargs: dict[str, Any] = {}


def job_name(module_path: str) -> str:
    return f"{PREFIX}:{module_path}"


@contextmanager
def submitting() -> Iterator[None]:
    """Within it, ``job_submit`` accepts ``django:`` names: the backend's enqueue only."""
    token = _submitting.set(True)
    try:
        yield
    finally:
        _submitting.reset(token)


class DjangoTaskSpec(JobSpec):
    def validate(self, params: Any) -> dict[str, Any]:
        if not _submitting.get():
            raise UnknownTask(self.name)  # a client, a re-run: only task.enqueue() starts these
        return super().validate(params)


# Not cached: clients can name any number of such tasks, and building one costs nothing.
def _spec(module_path: str) -> JobSpec:
    name = job_name(module_path)

    def run(ctx: JobContext, params: TaskArgs) -> Any:
        from jobs.tasks_backend.backend import run_task  # Django 6: django.tasks exists

        return run_task(ctx, module_path, params.args, params.kwargs)

    return DjangoTaskSpec(
        name=name,
        fn=run,
        params=TaskArgs,
        description=f"django.tasks task {module_path}",
        celery_task=run_django_task,
    )


def resolve(module_path: str) -> JobSpec:
    if len(module_path) > MAX_PATH or not _PATH.match(module_path):
        raise UnknownTask(job_name(module_path))
    return _spec(module_path)


@shared_task(name=CELERY_TASK, bind=True, ignore_result=True)
def run_django_task(task: Any, job_id: str) -> None:
    from jobs.models import Job
    from jobs.runtime import execute

    name = Job.objects.filter(pk=job_id).values_list("task", flat=True).first()
    if name is None or not name.startswith(f"{PREFIX}:"):
        logger.warning("ignoring %s for job %s: no such job of a django.tasks task", CELERY_TASK, job_id)
        return
    execute(job_id, task_name=name, worker=task.request.hostname)


def load_task(module_path: str) -> Any:
    """The ``django.tasks.Task`` at ``module_path``, or JobFailed: nothing else ever runs."""
    from django.tasks import Task
    from django.utils.module_loading import import_string

    try:
        found = import_string(module_path)
    except ImportError as exc:
        raise JobFailed(f"no django.tasks task at {module_path!r}: {exc}") from None
    if not isinstance(found, Task) or found.module_path != module_path:
        raise JobFailed(f"{module_path!r} is not a django.tasks task")
    return found


add_resolver(PREFIX, resolve)
