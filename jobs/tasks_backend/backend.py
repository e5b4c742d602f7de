"""``CoucouBackend``: Django 6's ``django.tasks`` on Coucou's Job rows and Celery workers.

Django 6 only (it imports ``django.tasks``). Configure it in ``settings.TASKS``::

    TASKS = {"default": {"BACKEND": "jobs.tasks_backend.backend.CoucouBackend"}}
"""

from __future__ import annotations

import builtins
import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from django.tasks import TaskContext, TaskResult, TaskResultStatus
from django.tasks.backends.base import BaseTaskBackend
from django.tasks.base import Task, TaskError
from django.tasks.exceptions import TaskResultDoesNotExist
from django.tasks.signals import task_enqueued, task_finished, task_started
from django.utils.json import normalize_json

from jobs import exceptions
from jobs.context import JobContext
from jobs.models import Job, JobStatus
from jobs.services import job_submit
from jobs.tasks_backend import owner_for_enqueue
from jobs.tasks_backend.runner import PREFIX, current_job, job_name, load_task, submitting

STATUS = {
    JobStatus.QUEUED: TaskResultStatus.READY,
    JobStatus.RUNNING: TaskResultStatus.RUNNING,
    JobStatus.SUCCEEDED: TaskResultStatus.SUCCESSFUL,
    JobStatus.FAILED: TaskResultStatus.FAILED,
    JobStatus.CANCELLED: TaskResultStatus.FAILED,  # Django has no cancelled: it did not succeed
}
# The Job row counts attempts but does not record which worker ran each.
UNRECORDED_WORKER = "unrecorded"


class CoucouBackend(BaseTaskBackend):
    """Each ``enqueue()`` is a Job (``job_submit``): a row, events to its owner's sockets,
    cancel, a Celery worker; ``get_result()`` reads that row."""

    supports_defer = False  # job_submit sends at once: no countdown or ETA to carry run_after
    supports_async_task = True  # run with async_to_sync in the worker, as Task.call() does
    supports_get_result = True  # the Job row, from any process
    supports_priority = False  # one Celery queue, first in first out

    def enqueue(
        self, task: Task[Any, Any], args: Sequence[Any], kwargs: Mapping[str, Any]
    ) -> TaskResult[Any, Any]:
        self.validate_task(task)
        params = {"args": _json_only(list(args), "args"), "kwargs": _json_only(dict(kwargs), "kwargs")}
        with submitting():
            job = job_submit(owner=owner_for_enqueue(), task=job_name(task.module_path), params=params)
        result = self._result(job, task)
        task_enqueued.send(type(self), task_result=result)
        return result

    def get_result(self, result_id: str) -> TaskResult[Any, Any]:
        try:
            pk = uuid.UUID(str(result_id))
        except ValueError:
            raise TaskResultDoesNotExist(result_id) from None
        job = Job.objects.filter(pk=pk, task__startswith=f"{PREFIX}:").first()
        if job is None:
            raise TaskResultDoesNotExist(result_id)
        try:
            task = load_task(job.task.removeprefix(f"{PREFIX}:"))
        except exceptions.JobFailed as exc:
            raise TaskResultDoesNotExist(f"{result_id}: {exc}") from None
        return self._result(job, task)

    def _result(self, job: Job, task: Task[Any, Any]) -> TaskResult[Any, Any]:
        return to_task_result(job, task, backend=self.alias)


def to_task_result(job: Job, task: Task[Any, Any], *, backend: str) -> TaskResult[Any, Any]:
    """Django's view of a Job row of a ``django:`` task."""
    params = job.params or {}
    status = STATUS[JobStatus(job.status)]
    result: TaskResult[Any, Any] = TaskResult(
        task=task,
        id=str(job.pk),
        status=status,
        enqueued_at=job.created_at,
        # Coucou keeps the start of the latest attempt only.
        started_at=job.started_at,
        last_attempted_at=job.started_at,
        finished_at=job.finished_at,
        args=params.get("args", []),
        kwargs=params.get("kwargs", {}),
        backend=backend,
        errors=_errors(job, task),
        worker_ids=[UNRECORDED_WORKER] * job.attempts,
    )
    if status == TaskResultStatus.SUCCESSFUL:
        object.__setattr__(result, "_return_value", job.result)
    return result


def _errors(job: Job, task: Task[Any, Any]) -> list[TaskError]:
    if job.status == JobStatus.CANCELLED:  # FAILED to Django: say why
        path = f"{exceptions.JobCancelled.__module__}.{exceptions.JobCancelled.__qualname__}"
        return [TaskError(exception_class_path=path, traceback="JobCancelled: the job was cancelled")]
    return [_task_error(job.error, task)] if job.error else []


def _task_error(error: dict[str, str], task: Task[Any, Any]) -> TaskError:
    """Job rows keep an exception's class name and message, not its module or traceback: the
    class is looked for in builtins, the task's module and jobs.exceptions, in that order."""
    name = str(error.get("type", "Exception"))
    path = name
    for namespace in (vars(builtins), task.func.__globals__, vars(exceptions)):
        found = namespace.get(name)
        if isinstance(found, type) and issubclass(found, BaseException):
            path = f"{found.__module__}.{found.__qualname__}"
            break
    return TaskError(exception_class_path=path, traceback=f"{name}: {error.get('message', '')}")


def _json_only(value: Any, where: str) -> Any:
    """``value`` as it will come back from the Job row, or TypeError naming what is not JSON."""
    try:
        normal = normalize_json(value)
        json.dumps(normal, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"Coucou stores a task's {where} as JSON: {exc}") from None
    _check_keys(normal, where)
    return normal


def _check_keys(value: Any, where: str) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"Coucou stores a task's {where} as JSON: key {key!r} is not a string")
            _check_keys(item, f"{where}[{key!r}]")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_keys(item, f"{where}[{i}]")


def run_task(ctx: JobContext, module_path: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
    """The body of a ``django:`` job in the worker: call the task, with its TaskContext if it
    takes one; ``jobs.tasks_backend.progress()`` reaches ``ctx`` meanwhile."""
    task = load_task(module_path)
    job = Job.objects.get(pk=ctx.job_id)
    running = to_task_result(job, task, backend=task.backend)
    task_started.send(CoucouBackend, task_result=running)
    token = current_job.set(ctx)
    try:
        if task.takes_context:
            value = task.call(TaskContext(task_result=running), *args, **kwargs)
        else:
            value = task.call(*args, **kwargs)
        value = normalize_json(value)
    except BaseException:
        object.__setattr__(running, "status", TaskResultStatus.FAILED)
        task_finished.send(CoucouBackend, task_result=running)
        raise
    finally:
        current_job.reset(token)
    object.__setattr__(running, "status", TaskResultStatus.SUCCESSFUL)
    object.__setattr__(running, "_return_value", value)
    task_finished.send(CoucouBackend, task_result=running)
    return value
