"""The ``@job`` registry: the only tasks a client can start are the ones registered here."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from celery import shared_task
from django.core.exceptions import ImproperlyConfigured
from pydantic import BaseModel, ValidationError

from jobs.exceptions import InvalidParams, UnknownTask

_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")


@dataclass(frozen=True)
class Retry:
    """A job's retry policy: which exceptions, how many attempts, how long between them."""

    on: tuple[type[BaseException], ...] = (Exception,)
    max_attempts: int = 3
    backoff_s: float = 1.0  # the first delay; each later one is ``factor`` times longer
    factor: float = 2.0
    max_delay_s: float = 300.0

    def delay_after(self, attempt: int) -> float | None:
        """Seconds to wait before the next attempt, or None when ``attempt`` was the last."""
        if attempt >= self.max_attempts:
            return None
        return min(self.max_delay_s, self.backoff_s * self.factor ** (attempt - 1))


@dataclass(frozen=True)
class JobSpec:
    name: str
    fn: Callable[..., Any]
    params: type[BaseModel] | None
    description: str
    celery_task: Any = field(repr=False)
    retry: Retry | None = None
    long_wait_s: float | None = None  # None: JOBS_LONG_WAIT_S; 0: no long-wait alert
    children: str = "fail_fast"  # when a child job fails (jobs/children.py): fail_fast or all_settled

    def validate(self, params: Any) -> dict[str, Any]:
        """Return the params as stored (JSON, defaults filled in), or raise InvalidParams."""
        if self.params is None:
            if params not in (None, {}):
                raise InvalidParams([_error(("params",), "this task takes no params", "extra_forbidden")])
            return {}
        if not isinstance(params, dict):
            raise InvalidParams([_error(("params",), "params must be an object", "dict_type")])
        known = {f.alias or name for name, f in self.params.model_fields.items()} | set(
            self.params.model_fields
        )
        unknown = sorted(set(params) - known)
        if unknown and self.params.model_config.get("extra") != "allow":
            raise InvalidParams(
                [_error(("params", key), "unknown param", "extra_forbidden") for key in unknown]
            )
        try:
            return self.params.model_validate(params).model_dump(mode="json", by_alias=True)
        except ValidationError as exc:
            raise InvalidParams(
                [_error(("params", *e["loc"]), e["msg"], e["type"]) for e in exc.errors()]
            ) from None

    def parse(self, stored: dict[str, Any]) -> BaseModel | None:
        return None if self.params is None else self.params.model_validate(stored)

    def params_schema(self) -> dict[str, Any]:
        if self.params is None:
            return {"type": "object", "properties": {}, "additionalProperties": False}
        return self.params.model_json_schema()


def _error(loc: tuple[Any, ...], msg: str, kind: str) -> dict[str, Any]:
    return {"loc": ["body", *loc], "msg": msg, "type": kind}


_registry: dict[str, JobSpec] = {}


def job(
    name: str,
    *,
    params: type[BaseModel] | None = None,
    description: str = "",
    retry: Retry | None = None,
    long_wait_s: float | None = None,
    children: str = "fail_fast",
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a job body under a dotted ``name``.

    The body is called as ``fn(ctx, params)`` (or ``fn(ctx)`` when the job takes no
    params) in a Celery worker; what it returns (JSON) is the job's result. With ``retry``,
    an exception it lists ends the attempt, not the job, until ``retry.max_attempts``.
    ``long_wait_s`` is how long a job of this task may wait in the queue before it raises a
    long-wait alert (jobs/alerts.py): None for ``JOBS_LONG_WAIT_S``, 0 for never.
    ``children`` is what a failed child job (``ctx.spawn``, ``ctx.map``) does to this one:
    ``"fail_fast"`` fails it at once and cancels the others, ``"all_settled"`` waits for
    every child first (jobs/children.py).
    """
    if not _NAME.match(name):
        raise ImproperlyConfigured(f"job name {name!r} must be dotted lowercase words, e.g. 'images.resize'")
    if long_wait_s is not None and long_wait_s < 0:
        raise ImproperlyConfigured(f"job {name!r}: long_wait_s must be None, 0 or a number of seconds")
    if children not in ("fail_fast", "all_settled"):
        raise ImproperlyConfigured(f"job {name!r}: children must be 'fail_fast' or 'all_settled'")

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        if name in _registry:
            if _registry[name].fn is not fn:
                raise ImproperlyConfigured(f"job {name!r} is registered twice")
            return fn  # the same body again: its Celery task exists already

        def run(task: Any, job_id: str) -> None:
            from jobs.runtime import execute

            execute(job_id, task_name=name, worker=task.request.hostname)

        run.__name__ = run.__qualname__ = f"run_{name.replace('.', '_')}"
        run.__module__ = fn.__module__
        celery_task = shared_task(name=name, bind=True, ignore_result=True)(run)
        doc = description or (fn.__doc__ or "").strip().split("\n")[0]
        _registry[name] = JobSpec(
            name=name,
            fn=fn,
            params=params,
            description=doc,
            celery_task=celery_task,
            retry=retry,
            long_wait_s=long_wait_s,
            children=children,
        )
        return fn

    return register


# Names no ``@job`` registered, answered by a resolver of their prefix ("django:<module path>",
# jobs/tasks_backend/runner.py). A resolver must not import what it is named, and its spec must
# refuse to be submitted by clients: the names come from clients too.
_resolvers: dict[str, Callable[[str], JobSpec]] = {}


def add_resolver(prefix: str, resolve: Callable[[str], JobSpec]) -> None:
    """Let ``get_spec`` answer ``"<prefix>:<rest>"`` with ``resolve(rest)`` (or its UnknownTask)."""
    _resolvers[prefix] = resolve


def get_spec(name: str) -> JobSpec:
    try:
        return _registry[name]
    except KeyError:
        prefix, colon, rest = name.partition(":")
        if colon and prefix in _resolvers:
            return _resolvers[prefix](rest)
        raise UnknownTask(name) from None


def all_specs() -> list[JobSpec]:
    return sorted(_registry.values(), key=lambda spec: spec.name)
