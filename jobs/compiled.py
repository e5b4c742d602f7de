"""Queries on hot paths that Django compiles to SQL once per database, then runs many times.

Building a query costs Django's ORM more than running it: ``User.objects.get(pk=…)`` took
238 µs here, the same SQL through ``raw()`` 98 µs (bench/RESULTS.md). ``CompiledQuery``
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
    """Whole rows of ``model()`` that ``build(marker)`` selects, with ``marker`` standing for
    the one value that changes: ``fetch(value)`` runs it with ``value`` in its place.

    The marker must be a value the field accepts and that reaches the SQL parameters
    unchanged (a string, an integer); where it does not (a UUID primary key on SQLite, say),
    the queryset is built and run each time, as the ORM would.
    """

    def __init__(
        self, model: Callable[[], type[Model]], build: Callable[[Any], QuerySet[Any]], *, marker: Any
    ) -> None:
        self._model = model
        self._build = build
        self._marker = marker
        self._compiled: dict[tuple[str, str], tuple[str, list[Any], int] | None] = {}

    def fetch(self, value: Any) -> list[Any]:
        model = self._model()
        db = router.db_for_read(model)
        key = (db, model._meta.label)
        if key not in self._compiled:  # a race compiles it twice, to the same SQL
            self._compiled[key] = self._compile(db)
        compiled = self._compiled[key]
        if compiled is None:
            return list(self._build(value).using(db))
        sql, params, at = compiled
        values = [*params]
        values[at] = value
        return list(model._default_manager.raw(sql, values, using=db))

    def _compile(self, db: str) -> tuple[str, list[Any], int] | None:
        try:
            sql, params = self._build(self._marker).query.get_compiler(using=db).as_sql()
        except (ValidationError, ValueError, TypeError):  # the field refuses the marker
            return None
        params = list(params)
        if params.count(self._marker) != 1:
            return None
        return sql, params, params.index(self._marker)
