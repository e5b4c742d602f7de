"""Hot-path queries compiled once by Django, then run with new values."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from jobs.compiled import CompiledQuery
from jobs.models import Job
from tests.conftest import make_job

pytestmark = pytest.mark.django_db
MARKER = "\0name\0"


def test_it_finds_what_the_orm_finds_with_each_value_and_builds_the_query_once(alice, bob):
    user_model = get_user_model()
    built: list[str] = []

    def build(name: str) -> Any:
        built.append(name)
        return user_model._default_manager.filter(username=name)

    query = CompiledQuery(lambda: user_model, build, marker=MARKER)
    assert query.fetch("alice") == [alice]
    assert query.fetch("bob") == [bob]
    assert query.fetch("nobody") == []
    found = query.fetch("alice")[0]
    assert (found.pk, found.username, found.email, found.is_active) == (alice.pk, "alice", alice.email, True)
    assert built == [MARKER]


def test_a_marker_the_database_converts_runs_through_the_orm_each_time(alice):
    first, second = make_job(owner=alice), make_job(owner=alice)
    marker = uuid.UUID(int=0)
    built: list[Any] = []

    def build(pk: Any) -> Any:
        built.append(pk)
        return Job.objects.filter(pk=pk)

    query = CompiledQuery(lambda: Job, build, marker=marker)
    assert query.fetch(first.pk) == [first]
    assert query.fetch(second.pk) == [second]
    if connection.vendor == "sqlite":  # stored as 32 hex digits: the marker never reaches the SQL
        assert built == [marker, first.pk, second.pk]
