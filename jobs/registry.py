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
class JobSpec:
    name: str
    fn: Callable[..., Any]
    params: type[BaseModel] | None
    description: str
    celery_task: Any = field(repr=False)

    def validate(self, params: Any) -> dict[str, Any]:
        """Return the params as stored (JSON, defaults filled in), or raise InvalidParams."""
        if self.params is None:
            if params not in (None, {}):
                raise InvalidParams([_error(("params",), "this task takes no params", "extra_forbidden")])
            return {}
        if not isinstance(params, dict):
            raise InvalidParams([_error(("params",), "params must be an object", "dict_type")])
        try:
            return self.params.model_validate(params).model_dump(mode="json")
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
    name: str, *, params: type[BaseModel] | None = None, description: str = ""
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a job body under a dotted ``name``.

    The body is called as ``fn(ctx, params)`` (or ``fn(ctx)`` when the job takes no
    params) in a Celery worker; what it returns (JSON) is the job's result.
    """
    if not _NAME.match(name):
        raise ImproperlyConfigured(f"job name {name!r} must be dotted lowercase words, e.g. 'images.resize'")

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        if name in _registry:
            if _registry[name].fn is not fn:
                raise ImproperlyConfigured(f"job {name!r} is registered twice")
            return fn  # the same body again: its Celery task exists already

        def run(job_id: str) -> None:
            from jobs.runtime import execute

            execute(job_id, task_name=name)

        run.__name__ = run.__qualname__ = f"run_{name.replace('.', '_')}"
        run.__module__ = fn.__module__
        celery_task = shared_task(name=name, ignore_result=True)(run)
        doc = description or (fn.__doc__ or "").strip().split("\n")[0]
        _registry[name] = JobSpec(name=name, fn=fn, params=params, description=doc, celery_task=celery_task)
        return fn

    return register


def get_spec(name: str) -> JobSpec:
    try:
        return _registry[name]
    except KeyError:
        raise UnknownTask(name) from None


def all_specs() -> list[JobSpec]:
    return sorted(_registry.values(), key=lambda spec: spec.name)
