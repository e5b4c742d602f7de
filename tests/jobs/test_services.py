"""``job_submit``: the row, and what happens on commit (a job.queued event, a Celery message)."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from jobs.exceptions import InvalidParams, UnknownTask
from jobs.models import Job, JobStatus
from jobs.services import job_submit
from realtime.stream import read_after
from tests.conftest import make_user


def broker_messages(redis_db: Any) -> list[dict[str, Any]]:
    """The Celery messages waiting in the default queue (a Redis list named "celery")."""
    return [json.loads(raw) for raw in redis_db.lrange("celery", 0, -1)]


def frames_of(user: Any) -> list[dict[str, Any]]:
    return [orjson.loads(frame) for _, frame in read_after(user.pk, 0, 100).frames]


def test_submit_creates_a_queued_row_with_clean_params(alice, redis_db):
    job = job_submit(owner=alice, task="demo.count", params={"n": 5})
    row = Job.objects.get(pk=job.pk)
    assert row.owner == alice
    assert row.task == "demo.count"
    assert row.params == {"n": 5, "interval_ms": 0}
    assert row.status == JobStatus.QUEUED
    assert row.attempts == 0
    assert (row.result, row.error, row.started_at, row.finished_at) == (None, None, None, None)


def test_nothing_leaves_before_the_transaction_commits(alice, redis_db):
    # pytest-django's test transaction never commits: on_commit callbacks do not run.
    job_submit(owner=alice, task="demo.count", params={"n": 5})
    assert redis_db.llen("celery") == 0
    assert read_after(alice.pk, 0, 10).latest == 0


def test_on_commit_publishes_queued_and_sends_the_celery_message(
    alice, redis_db, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        job = job_submit(owner=alice, task="demo.count", params={"n": 5})
    assert len(callbacks) == 2  # job.queued, then the Celery message (jobs/lifecycle.py)

    [frame] = frames_of(alice)
    assert frame["seq"] == 1
    assert frame["type"] == "job.queued"
    assert frame["job"] == str(job.id)
    assert frame["data"] == {"task": "demo.count", "attempt": 0}

    assert redis_db.llen("celery") == 1
    [message] = broker_messages(redis_db)
    assert message["content-type"] == "application/json"
    assert message["headers"]["task"] == "demo.count"
    assert message["headers"]["id"] == str(job.id)
    assert message["headers"]["argsrepr"] == repr([str(job.id)])


def test_unknown_task_is_refused_and_creates_nothing(alice, redis_db, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(UnknownTask):
        job_submit(owner=alice, task="demo.nope", params={})
    assert not Job.objects.exists()
    assert redis_db.llen("celery") == 0


def test_invalid_params_are_refused_naming_the_field(alice, redis_db, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(InvalidParams) as caught:
        job_submit(owner=alice, task="demo.count", params={"n": -1})
    assert [e["loc"] for e in caught.value.errors] == [["body", "params", "n"]]
    assert not Job.objects.exists()
    assert redis_db.llen("celery") == 0


def test_an_idempotency_key_returns_the_same_job_to_the_same_owner(
    alice, redis_db, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        first = job_submit(owner=alice, task="demo.count", params={"n": 5}, idempotency_key="k-1")
        again = job_submit(owner=alice, task="demo.count", params={"n": 5}, idempotency_key="k-1")
    assert again.pk == first.pk
    assert Job.objects.count() == 1
    assert redis_db.llen("celery") == 1  # sent once
    assert [f["type"] for f in frames_of(alice)] == ["job.queued"]


def test_an_idempotency_key_is_per_owner(alice, bob, redis_db):
    mine = job_submit(owner=alice, task="coucou", idempotency_key="same")
    theirs = job_submit(owner=bob, task="coucou", idempotency_key="same")
    assert mine.pk != theirs.pk
    assert (mine.owner, theirs.owner) == (alice, bob)


def test_without_a_key_every_submit_is_a_new_job(alice, redis_db):
    first = job_submit(owner=alice, task="coucou")
    second = job_submit(owner=alice, task="coucou")
    assert first.pk != second.pk


def test_each_user_s_queued_events_are_numbered_separately(redis_db, django_capture_on_commit_callbacks, db):
    carol, dave = make_user(username="carol"), make_user(username="dave")
    with django_capture_on_commit_callbacks(execute=True):
        for owner in (carol, dave, carol):
            job_submit(owner=owner, task="coucou")
    assert [f["seq"] for f in frames_of(carol)] == [1, 2]
    assert [f["seq"] for f in frames_of(dave)] == [1]
    assert redis_db.llen("celery") == 3
