"""Queries on hot paths that Django compiles to SQL once per database, then runs many times.

Building a query costs Django's ORM more than running it: ``User.objects.get(pk=…)`` took
272 µs here, the same SQL through ``raw()`` 108 µs (bench/RESULTS.md). ``CompiledQuery``
keeps the SQL that Django's own compiler wrote for one queryset and runs it with a new
value in place of a marker, so the SQL stays Django's, for every database it supports.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import router
from django.db.models import Model, QuerySet


class CompiledQuery:
    """Rows of ``model()`` that ``build(value)`` selects, compiled once: ``fetch(value)``.

    ``markers`` are two values of the type ``fetch`` takes, different in every character,
    that the query never meets. ``build`` must use its value once, in a plain comparison,
    and read only the model's own columns (``only()`` is fine). Whatever Django would write
    differently for another value is run through the ORM each time instead: a value of
    another type (``None`` becomes ``IS NULL``), a value used twice or transformed, a field
    that converts it (a UUID key on SQLite), joins that load other models' columns.
    """

    def __init__(
        self,
        model: Callable[[], type[Model]],
        build: Callable[[Any], QuerySet[Any]],
        *,
        markers: tuple[Any, Any],
    ) -> None:
        self._model = model
        self._build = build
        self._markers = markers
        self._compiled: dict[tuple[str, str], tuple[str, list[Any], int] | None] = {}

    def fetch(self, value: Any) -> list[Any]:
        model = self._model()
        db = router.db_for_read(model)
        key = (db, model._meta.label)
        if key not in self._compiled:  # a race compiles it twice, to the same SQL
            self._compiled[key] = self._compile(db)
        compiled = self._compiled[key]
        if compiled is None or type(value) is not type(self._markers[0]):
            return list(self._build(value).using(db))
        sql, params, at = compiled
        values = [*params]
        values[at] = value
        return list(model._default_manager.raw(sql, values, using=db))

    def _compile(self, db: str) -> tuple[str, list[Any], int] | None:
        try:
            (sql, params), (other_sql, other_params) = (self._sql(marker, db) for marker in self._markers)
        except (ValidationError, ValueError, TypeError, _NotPlain):  # e.g. the field refuses a marker
            return None
        differ = [i for i, (a, b) in enumerate(zip(params, other_params, strict=True)) if a != b]
        if sql != other_sql or len(differ) != 1:
            return None
        at = differ[0]
        if (params[at], other_params[at]) != self._markers:
            return None
        return sql, params, at

    def _sql(self, marker: Any, db: str) -> tuple[str, list[Any]]:
        queryset = self._build(marker)
        query = queryset.query
        if (
            query.select_related
            or queryset._prefetch_related_lookups  # type: ignore[attr-defined]
            or query.values_select
            or query.select_for_update
            or query.annotations
            or query.extra
        ):
            raise _NotPlain
        sql, params = query.get_compiler(using=db).as_sql()
        return sql, list(params)


class _NotPlain(Exception):
    """The queryset reads more than its model's own columns, or locks rows."""
