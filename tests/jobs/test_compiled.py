"""Hot-path queries compiled once by Django, then run with new values."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, transaction

from jobs.compiled import CompiledQuery
from jobs.models import Job
from tests.conftest import make_job

pytestmark = pytest.mark.django_db
MARKERS = ("\x01\x02", "\x03\x04")


def counting(build: Any) -> tuple[list[Any], Any]:
    built: list[Any] = []

    def counted(value: Any) -> Any:
        built.append(value)
        return build(value)

    return built, counted


def users(**where: Any) -> Any:
    return get_user_model()._default_manager.filter(**where)


def test_it_finds_what_the_orm_finds_with_each_value_and_builds_the_query_once(alice, bob):
    built, build = counting(lambda name: users(username=name))
    query = CompiledQuery(get_user_model, build, markers=MARKERS)
    assert query.fetch("alice") == [alice]
    assert query.fetch("bob") == [bob]
    assert query.fetch("nobody") == []
    found = query.fetch("alice")[0]
    assert (found.pk, found.username, found.email, found.is_active) == (alice.pk, "alice", alice.email, True)
    assert built == list(MARKERS)  # compiled with both markers, then never built again


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(lambda name: users(username=name, username__startswith=name[:1]), id="value-used-twice"),
        pytest.param(
            lambda name: Job.objects.filter(owner__username=name).select_related("owner"), id="select-related"
        ),
        pytest.param(lambda name: users(username=name).select_for_update(), id="locks-rows"),
    ],
)
def test_a_query_that_is_not_plain_runs_through_the_orm_each_time(alice, build):
    make_job(owner=alice)
    built, counted = counting(build)
    query = CompiledQuery(lambda: build("x").model, counted, markers=MARKERS)
    with transaction.atomic():  # select_for_update() needs one, compiled or not
        expected = list(build("alice"))
        assert expected
        assert query.fetch("alice") == expected
        assert query.fetch("alice") == expected
    assert built[-2:] == ["alice", "alice"]


def test_a_value_of_another_type_runs_through_the_orm(alice):
    job = make_job(owner=alice)  # no idempotency key: NULL
    built, build = counting(lambda key: Job.objects.filter(idempotency_key=key))
    query = CompiledQuery(lambda: Job, build, markers=MARKERS)
    assert query.fetch(None) == [job]  # IS NULL, where the compiled SQL says = NULL
    assert query.fetch("no such key") == []
    assert built == [*MARKERS, None]


def test_a_marker_the_database_converts_runs_through_the_orm_each_time(alice):
    first, second = make_job(owner=alice), make_job(owner=alice)
    markers = (uuid.UUID(int=1), uuid.UUID(int=2))
    built, build = counting(lambda pk: Job.objects.filter(pk=pk))
    query = CompiledQuery(lambda: Job, build, markers=markers)
    assert query.fetch(first.pk) == [first]
    assert query.fetch(second.pk) == [second]
    if connection.vendor == "sqlite":  # stored as 32 hex digits: the markers never reach the SQL
        assert built == [*markers, first.pk, second.pk]
    else:  # PostgreSQL takes a UUID as it is: compiled
        assert built == list(markers)
