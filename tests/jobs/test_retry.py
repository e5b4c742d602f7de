"""Retry policies: ``Retry.delay_after``, and a failed attempt queued again with its delay."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from jobs import job
from jobs.models import Job, JobStatus
from jobs.registry import Retry
from jobs.runtime import execute
from jobs.services import job_cancel
from tests.conftest import broker_messages, events_of, make_job

# Committed for real: a transition's event leaves on commit (jobs/lifecycle.py), as in a worker.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("redis_db")]


@pytest.mark.parametrize(
    ("policy", "delays"),
    [
        (Retry(), [1.0, 2.0, None]),
        (Retry(max_attempts=5, backoff_s=0.5, factor=3), [0.5, 1.5, 4.5, 13.5, None]),
        (Retry(max_attempts=6, backoff_s=1, factor=10, max_delay_s=60), [1, 10, 60, 60, 60, None]),
        (Retry(max_attempts=4, backoff_s=2, factor=1), [2, 2, 2, None]),
        (Retry(max_attempts=1), [None]),
    ],
)
def test_delay_after_each_attempt(policy, delays):
    assert [policy.delay_after(attempt) for attempt in range(1, len(delays) + 1)] == delays
    assert policy.delay_after(len(delays) + 1) is None  # past the last attempt too


def run_message(redis: Any) -> dict[str, Any]:
    """Run the one message waiting in the broker, as a worker would once its countdown is up."""
    [message] = broker_messages(redis)
    redis.delete("celery")
    execute(message["headers"]["id"], task_name=message["headers"]["task"])
    return message


def lifecycle(user: Any) -> list[tuple[str, dict[str, Any]]]:
    return [(e["type"], e["data"]) for e in events_of(user) if e["type"] != "job.progress"]


def test_a_failed_attempt_is_queued_again_after_its_backoff(alice, redis_db):
    flaky = make_job(owner=alice, task="demo.flaky", params={"failures": 1})
    before = timezone.now()
    execute(str(flaky.pk), task_name="demo.flaky")
    row = Job.objects.get(pk=flaky.pk)
    error = {"type": "ConnectionError", "message": "attempt 1 of a flaky job failed on purpose"}
    assert (row.status, row.attempts, row.error, row.finished_at) == (JobStatus.QUEUED, 1, error, None)
    assert lifecycle(alice)[-1] == ("job.retrying", {"attempt": 1, "delay": 0.5, "error": error})
    [message] = broker_messages(redis_db)
    assert (message["headers"]["task"], message["headers"]["id"]) == ("demo.flaky", str(flaky.pk))
    eta = datetime.fromisoformat(message["headers"]["eta"])
    assert before + timedelta(seconds=0.5) <= eta <= timezone.now() + timedelta(seconds=0.5)


def test_the_next_attempt_succeeds_and_the_job_shows_no_error(alice, redis_db):
    flaky = make_job(owner=alice, task="demo.flaky", params={"failures": 2})
    execute(str(flaky.pk), task_name="demo.flaky")
    for _ in range(2):
        run_message(redis_db)
    row = Job.objects.get(pk=flaky.pk)
    assert (row.status, row.attempts, row.error) == (JobStatus.SUCCEEDED, 3, None)
    assert row.result == {"succeeded_on_attempt": 3}
    events = lifecycle(alice)
    assert [(kind, data["attempt"]) for kind, data in events] == [
        ("job.started", 1), ("job.retrying", 1),
        ("job.started", 2), ("job.retrying", 2),
        ("job.started", 3), ("job.succeeded", 3),
    ]  # fmt: skip
    assert [data["delay"] for kind, data in events if kind == "job.retrying"] == [0.5, 1.0]
    assert redis_db.llen("celery") == 0


def test_the_last_attempt_fails_the_job(alice, redis_db):
    flaky = make_job(owner=alice, task="demo.flaky", params={"failures": 5})
    execute(str(flaky.pk), task_name="demo.flaky")
    for _ in range(2):
        run_message(redis_db)
    row = Job.objects.get(pk=flaky.pk)
    error = {"type": "ConnectionError", "message": "attempt 3 of a flaky job failed on purpose"}
    assert (row.status, row.attempts, row.error) == (JobStatus.FAILED, 3, error)
    assert row.finished_at is not None
    assert lifecycle(alice)[-1] == ("job.failed", {"error": error, "attempt": 3})
    assert redis_db.llen("celery") == 0


def test_a_retry_cancelled_while_it_waits_never_runs(alice, redis_db):
    flaky = make_job(owner=alice, task="demo.flaky", params={"failures": 1})
    execute(str(flaky.pk), task_name="demo.flaky")
    job_cancel(owner=alice, job_id=flaky.pk)
    run_message(redis_db)
    row = Job.objects.get(pk=flaky.pk)
    assert (row.status, row.attempts) == (JobStatus.CANCELLED, 1)
    assert [kind for kind, _ in lifecycle(alice)] == ["job.started", "job.retrying", "job.cancelled"]


@pytest.fixture
def scratch_jobs(scratch_registry: None) -> None:

    @job("tests.wrong_error", retry=Retry(on=(ConnectionError,)))
    def wrong_error(ctx):
        raise ValueError("not a network problem")

    @job("tests.no_policy")
    def no_policy(ctx):
        raise ConnectionError("down")

    @job("tests.any_error", retry=Retry(max_attempts=2, backoff_s=0))
    def any_error(ctx):
        raise KeyError("gone")

    @job("tests.cancelled_then_fails", retry=Retry(on=(ConnectionError,)))
    def cancelled_then_fails(ctx):
        job_cancel(owner=ctx.owner, job_id=ctx.job_id)  # the owner cancels while it runs
        raise ConnectionError("the upstream went away")


@pytest.mark.usefixtures("scratch_jobs")
def test_a_job_cancelled_during_an_attempt_that_fails_is_not_retried(alice, redis_db):
    row = make_job(owner=alice, task="tests.cancelled_then_fails", params={})
    execute(str(row.pk), task_name="tests.cancelled_then_fails")
    row.refresh_from_db()
    assert (row.status, row.attempts) == (JobStatus.CANCELLED, 1)
    assert [kind for kind, _ in lifecycle(alice)] == ["job.started", "job.cancelled"]
    assert redis_db.llen("celery") == 0


@pytest.mark.usefixtures("scratch_jobs")
@pytest.mark.parametrize(
    ("task", "error_type"), [("tests.wrong_error", "ValueError"), ("tests.no_policy", "ConnectionError")]
)
def test_an_error_the_policy_does_not_list_fails_at_once(alice, redis_db, task, error_type):
    row = make_job(owner=alice, task=task, params={})
    execute(str(row.pk), task_name=task)
    row.refresh_from_db()
    assert (row.status, row.attempts, row.error["type"]) == (JobStatus.FAILED, 1, error_type)
    assert [kind for kind, _ in lifecycle(alice)] == ["job.started", "job.failed"]
    assert redis_db.llen("celery") == 0


@pytest.mark.usefixtures("scratch_jobs")
def test_a_policy_retries_any_exception_by_default(alice, redis_db):
    row = make_job(owner=alice, task="tests.any_error", params={})
    execute(str(row.pk), task_name="tests.any_error")
    assert lifecycle(alice)[-1][1]["delay"] == 0
    assert broker_messages(redis_db)[0]["headers"]["eta"] is None
    run_message(redis_db)
    row.refresh_from_db()
    assert (row.status, row.attempts, row.error["type"]) == (JobStatus.FAILED, 2, "KeyError")
