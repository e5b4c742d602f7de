"""Coucou's backend for Django 6's ``django.tasks``, and what its tasks call.

The backend is ``jobs.tasks_backend.backend.CoucouBackend`` (Django 6 only); this module
imports on any Django. Enqueue for a user, and report progress from the task::

    from django.tasks import task
    from jobs import tasks_backend

    @task
    def resize(urls: list[str]) -> dict:
        for i, url in enumerate(urls, 1):
            tasks_backend.progress(i, len(urls), "resizing")  # raises once cancelled
            ...
        return {"done": len(urls)}

    with tasks_backend.owner(request.user):
        result = resize.enqueue(urls)   # result.id is the Job's id

Without ``owner()``, the job's owner is the system user ``django-tasks`` (``SYSTEM_USERNAME``,
created on first use, inactive, with no usable password).
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from jobs.context import JobContext
from jobs.tasks_backend.runner import current_job

SYSTEM_USERNAME = "django-tasks"

_owner: contextvars.ContextVar[Any] = contextvars.ContextVar("coucou_django_owner", default=None)


@contextmanager
def owner(user: Any) -> Iterator[None]:
    """Tasks enqueued within it belong to ``user``: their Job, its events on ``user``'s
    sockets, ``GET /api/jobs`` and cancel by ``user``."""
    if user is None or not getattr(user, "pk", None):
        raise ValueError("owner() needs a saved user")
    token = _owner.set(user)
    try:
        yield
    finally:
        _owner.reset(token)


def owner_for_enqueue() -> Any:
    """The user of the enclosing ``owner()``, or the system user."""
    user = _owner.get()
    if user is not None:
        return user
    from django.contrib.auth import get_user_model

    model = get_user_model()
    system, created = model._default_manager.get_or_create(
        **{model.USERNAME_FIELD: SYSTEM_USERNAME}, defaults={"is_active": False}
    )
    if created:
        system.set_unusable_password()
        system.save(update_fields=["password"])
    return system


def job_context() -> JobContext | None:
    """The running Coucou job's context (``push``, ``stream``…), or None outside one."""
    return current_job.get()


def progress(current: float, total: float | None = None, message: str = "") -> None:
    """``JobContext.progress`` of the running job: coalesced, cheap, raises ``JobCancelled``
    once the job is cancelled. Does nothing outside a Coucou job (another backend, a test)."""
    ctx = current_job.get()
    if ctx is not None:
        ctx.progress(current, total, message)


def check_cancelled() -> None:
    """Raise ``JobCancelled`` if the running job has been cancelled; nothing outside one."""
    ctx = current_job.get()
    if ctx is not None:
        ctx.check_cancelled()
