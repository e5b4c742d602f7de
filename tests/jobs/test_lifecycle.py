"""The state transitions of one ``Job`` (jobs/lifecycle.py): each is a conditional UPDATE, the
loser learns it lost, and the winner's event leaves once the change is committed."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction
from kombu.exceptions import OperationalError

from jobs.exceptions import EnqueueUnavailable
from jobs.lifecycle import do_cancel, do_fail, do_request_cancel, do_retry, do_succeed
from jobs.models import Job, JobStatus
from jobs.registry import get_spec
from jobs.services import job_submit
from tests.conftest import broker_messages, events_of, make_job

ERROR = {"type": "ConnectionError", "message": "flaky"}


def stored(job: Any) -> Job:
    return Job.objects.get(pk=job.pk)


def start(job: Job) -> Job:
    claimed = Job.objects.claim(job.pk, task=job.task)
    assert claimed is not None
    return claimed


def test_claim_starts_an_attempt(alice):
    job = make_job(owner=alice, params={"n": 3, "interval_ms": 0})
    claimed = Job.objects.claim(str(job.pk), task=job.task)
    assert claimed is not None
    row = stored(job)
    assert (row.status, row.attempts) == (JobStatus.RUNNING, 1)
    assert row.started_at is not None
    # the returned Job is the updated row, every field of it
    for field in Job._meta.concrete_fields:
        assert getattr(claimed, field.attname) == getattr(row, field.attname), field.name
    assert claimed.params == {"n": 3, "interval_ms": 0}


def test_two_deliveries_racing_to_start_one_job_start_it_once(alice):
    job = make_job(owner=alice)
    assert Job.objects.claim(job.pk, task=job.task) is not None
    assert Job.objects.claim(job.pk, task=job.task) is None
    assert stored(job).attempts == 1


def test_claim_needs_the_jobs_own_task(alice):
    job = make_job(owner=alice, task="demo.count")
    assert Job.objects.claim(job.pk, task="coucou") is None
    assert stored(job).status == JobStatus.QUEUED


def test_claim_of_an_unknown_job_is_none(alice):
    assert Job.objects.claim("3f0c5f6e-0000-4000-8000-000000000000", task="coucou") is None


def test_each_attempt_counts(alice):
    job = make_job(owner=alice)
    for attempt in (1, 2, 3):
        job = start(job)
        assert job.attempts == attempt
        assert do_retry(job, ERROR, delay=0, reason="error")
    assert stored(job).attempts == 3


@pytest.mark.parametrize("status", [JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED])
def test_a_finished_job_never_starts_again(alice, status):
    job = make_job(owner=alice, status=status)
    assert Job.objects.claim(job.pk, task=job.task) is None
    row = stored(job)
    assert (row.status, row.attempts, row.started_at) == (status, 0, None)


def test_success_stores_the_result(alice):
    job = start(make_job(owner=alice))
    assert do_succeed(job, {"counted": 3})
    row = stored(job)
    assert (row.status, row.result, row.error) == (JobStatus.SUCCEEDED, {"counted": 3}, None)
    assert row.finished_at is not None and row.finished_at >= row.started_at


def test_a_success_after_a_retry_shows_no_error(alice):
    job = start(make_job(owner=alice))
    do_retry(job, ERROR, delay=0, reason="error")
    job = start(job)
    assert do_succeed(job, {"ok": True})
    row = stored(job)
    assert (row.status, row.result, row.error, row.attempts) == (JobStatus.SUCCEEDED, {"ok": True}, None, 2)


@pytest.mark.parametrize("status", [JobStatus.QUEUED, JobStatus.FAILED, JobStatus.CANCELLED])
def test_only_a_running_job_can_succeed(alice, status):
    job = make_job(owner=alice, status=status)
    assert not do_succeed(job, {"late": True})
    row = stored(job)
    assert (row.status, row.result, row.finished_at) == (status, None, None)
    assert job.result is None


@pytest.mark.parametrize("status", [JobStatus.QUEUED, JobStatus.RUNNING])
def test_an_active_job_can_fail(alice, status):
    job = make_job(owner=alice, status=status)
    assert do_fail(job, ERROR)
    row = stored(job)
    assert (row.status, row.error) == (JobStatus.FAILED, ERROR)
    assert row.finished_at is not None


def test_a_cancelled_job_does_not_become_failed_when_its_worker_reports_late(alice):
    job = make_job(owner=alice, status=JobStatus.RUNNING)
    worker_copy = stored(job)
    assert do_cancel(job)
    assert not do_fail(worker_copy, ERROR)
    assert worker_copy.status == JobStatus.CANCELLED
    row = stored(job)
    assert (row.status, row.error) == (JobStatus.CANCELLED, None)


@pytest.mark.parametrize("status", [JobStatus.QUEUED, JobStatus.RUNNING])
def test_a_cancel_ends_an_active_job(alice, status):
    job = make_job(owner=alice, status=status)
    assert do_cancel(job)
    row = stored(job)
    assert row.status == JobStatus.CANCELLED
    assert row.finished_at is not None
    assert row.cancel_requested_at == row.finished_at  # asked and done at once


def test_a_cancel_keeps_when_it_was_asked(alice):
    job = make_job(owner=alice, status=JobStatus.RUNNING)
    assert do_request_cancel(job)
    asked = stored(job).cancel_requested_at
    assert do_cancel(job)
    row = stored(job)
    assert row.cancel_requested_at == asked
    assert row.finished_at >= asked


def test_a_succeeded_job_cannot_be_cancelled(alice):
    job = make_job(owner=alice, status=JobStatus.RUNNING)
    cancelling = stored(job)
    assert do_succeed(job, {"done": 1})
    assert not do_cancel(cancelling)
    assert cancelling.status == JobStatus.SUCCEEDED
    row = stored(job)
    assert (row.status, row.cancel_requested_at, row.result) == (JobStatus.SUCCEEDED, None, {"done": 1})


def test_a_retry_queues_a_running_job_again_with_its_error(alice):
    job = start(make_job(owner=alice))
    assert do_retry(job, ERROR, delay=0, reason="error")
    row = stored(job)
    assert (row.status, row.error, row.attempts, row.finished_at) == (JobStatus.QUEUED, ERROR, 1, None)


@pytest.mark.parametrize("status", [JobStatus.QUEUED, JobStatus.SUCCEEDED, JobStatus.CANCELLED])
def test_only_a_running_job_is_retried(alice, status):
    job = make_job(owner=alice, status=status)
    assert not do_retry(job, ERROR, delay=0, reason="error")
    assert (stored(job).status, stored(job).error) == (status, None)


def test_request_cancel_marks_a_running_job_and_leaves_it_running(alice):
    job = make_job(owner=alice, status=JobStatus.RUNNING)
    assert do_request_cancel(job)
    row = stored(job)
    assert row.status == JobStatus.RUNNING
    assert row.cancel_requested_at is not None and row.finished_at is None


@pytest.mark.parametrize("status", [JobStatus.QUEUED, JobStatus.SUCCEEDED, JobStatus.FAILED])
def test_request_cancel_applies_only_to_a_running_job(alice, status):
    job = make_job(owner=alice, status=status)
    assert not do_request_cancel(job)
    assert stored(job).cancel_requested_at is None


def test_claim_reads_the_row_back_where_the_database_cannot_return_it(alice, monkeypatch):
    from django.db import connection

    monkeypatch.setattr(connection.features, "can_return_columns_from_insert", False)
    job = make_job(owner=alice)
    claimed = Job.objects.claim(job.pk, task=job.task)
    assert claimed is not None and (claimed.status, claimed.attempts) == (JobStatus.RUNNING, 1)
    assert Job.objects.claim(job.pk, task=job.task) is None
    assert stored(job).attempts == 1


# --- events leave on commit -----------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_an_event_leaves_when_its_transition_commits(alice, redis_db):
    job = make_job(owner=alice, status=JobStatus.RUNNING, attempts=1)
    with transaction.atomic():
        assert do_succeed(job, {"ok": 1})
        assert events_of(alice) == []  # not before the commit
    [event] = events_of(alice)
    assert (event["type"], event["job"], event["data"]) == (
        "job.succeeded",
        str(job.pk),
        {"result": {"ok": 1}, "attempt": 1},
    )


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_transition_sends_nothing_and_changes_nothing(alice, redis_db):
    job = make_job(owner=alice, status=JobStatus.RUNNING, attempts=1)
    with pytest.raises(RuntimeError), transaction.atomic():
        assert do_fail(job, ERROR)
        raise RuntimeError("the caller's transaction fails")
    assert events_of(alice) == []
    assert stored(job).status == JobStatus.RUNNING


@pytest.mark.django_db(transaction=True)
def test_of_two_racing_writers_only_the_winner_is_heard(alice, redis_db):
    job = make_job(owner=alice, status=JobStatus.RUNNING, attempts=1)
    late = stored(job)
    assert do_cancel(job, forced=True)
    assert not do_succeed(late, {"too": "late"})
    assert [e["type"] for e in events_of(alice)] == ["job.cancelled"]
    assert events_of(alice)[0]["data"] == {"attempt": 1, "forced": True}


@pytest.mark.django_db(transaction=True)
def test_a_retry_sends_its_event_then_its_celery_message(alice, redis_db):
    job = make_job(owner=alice, status=JobStatus.RUNNING, attempts=1)
    assert do_retry(job, ERROR, delay=0, reason="worker_lost")
    assert [e["type"] for e in events_of(alice)] == ["job.retrying"]
    [message] = broker_messages(redis_db)
    assert message["headers"]["id"] == str(job.pk)


@pytest.mark.django_db(transaction=True)
def test_a_submit_inside_a_callers_transaction_waits_for_its_commit(alice, redis_db):
    with transaction.atomic():
        job = job_submit(owner=alice, task="demo.count", params={"n": 1})
        assert (events_of(alice), broker_messages(redis_db)) == ([], [])
    assert [e["type"] for e in events_of(alice)] == ["job.queued"]
    assert [m["headers"]["id"] for m in broker_messages(redis_db)] == [str(job.pk)]


@pytest.mark.django_db(transaction=True)
def test_a_submit_rolled_back_with_its_caller_leaves_nothing(alice, redis_db):
    with pytest.raises(RuntimeError), transaction.atomic():
        job_submit(owner=alice, task="demo.count", params={"n": 1})
        raise RuntimeError("the view failed")
    assert (Job.objects.count(), events_of(alice), broker_messages(redis_db)) == (0, [], [])


def refuse_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    """The broker refuses every message (its error, as kombu raises it); Redis itself is up."""

    def refused(*args: Any, **kwargs: Any) -> None:
        raise OperationalError("Error 111 connecting to the broker. Connection refused.")

    monkeypatch.setattr(get_spec("demo.count").celery_task, "apply_async", refused)


@pytest.mark.django_db(transaction=True)
def test_a_broker_refusal_outside_a_transaction_reaches_the_caller(alice, redis_db, monkeypatch):
    refuse_messages(monkeypatch)
    with pytest.raises(EnqueueUnavailable):
        job_submit(owner=alice, task="demo.count", params={"n": 1})
    row = Job.objects.get()
    assert (row.status, row.error["type"]) == (JobStatus.FAILED, "EnqueueUnavailable")
    assert [e["type"] for e in events_of(alice)] == ["job.queued", "job.failed"]


@pytest.mark.django_db(transaction=True)
def test_a_broker_refusal_at_a_callers_commit_never_raises_into_it(alice, redis_db, monkeypatch, caplog):
    refuse_messages(monkeypatch)
    after: list[str] = []
    with transaction.atomic():
        job_submit(owner=alice, task="demo.count", params={"n": 1})
        transaction.on_commit(lambda: after.append("ran"))
    assert after == ["ran"]  # the caller's other on_commit callbacks still run
    row = Job.objects.get()
    assert (row.status, row.error["type"]) == (JobStatus.FAILED, "EnqueueUnavailable")
    assert [e["type"] for e in events_of(alice)] == ["job.queued", "job.failed"]
    assert "cannot enqueue job" in caplog.text
