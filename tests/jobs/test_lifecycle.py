"""The state transitions of one ``Job``: each is a conditional UPDATE, and the loser learns it lost."""

from __future__ import annotations

from typing import Any

import pytest

from jobs.models import Job, JobStatus
from tests.conftest import make_job

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
        assert job.mark_retrying(ERROR)
    assert stored(job).attempts == 3


@pytest.mark.parametrize("status", [JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED])
def test_a_finished_job_never_starts_again(alice, status):
    job = make_job(owner=alice, status=status)
    assert Job.objects.claim(job.pk, task=job.task) is None
    row = stored(job)
    assert (row.status, row.attempts, row.started_at) == (status, 0, None)


def test_mark_succeeded_stores_the_result(alice):
    job = start(make_job(owner=alice))
    assert job.mark_succeeded({"counted": 3})
    row = stored(job)
    assert (row.status, row.result, row.error) == (JobStatus.SUCCEEDED, {"counted": 3}, None)
    assert row.finished_at is not None and row.finished_at >= row.started_at


def test_a_success_after_a_retry_shows_no_error(alice):
    job = start(make_job(owner=alice))
    job.mark_retrying(ERROR)
    job = start(job)
    assert job.mark_succeeded({"ok": True})
    row = stored(job)
    assert (row.status, row.result, row.error, row.attempts) == (JobStatus.SUCCEEDED, {"ok": True}, None, 2)


@pytest.mark.parametrize("status", [JobStatus.QUEUED, JobStatus.FAILED, JobStatus.CANCELLED])
def test_only_a_running_job_can_succeed(alice, status):
    job = make_job(owner=alice, status=status)
    assert not job.mark_succeeded({"late": True})
    row = stored(job)
    assert (row.status, row.result, row.finished_at) == (status, None, None)
    assert job.result is None


@pytest.mark.parametrize("status", [JobStatus.QUEUED, JobStatus.RUNNING])
def test_an_active_job_can_fail(alice, status):
    job = make_job(owner=alice, status=status)
    assert job.mark_failed(ERROR)
    row = stored(job)
    assert (row.status, row.error) == (JobStatus.FAILED, ERROR)
    assert row.finished_at is not None


def test_a_cancelled_job_does_not_become_failed_when_its_worker_reports_late(alice):
    job = make_job(owner=alice, status=JobStatus.RUNNING)
    worker_copy = stored(job)
    assert job.mark_cancelled()
    assert not worker_copy.mark_failed(ERROR)
    assert worker_copy.status == JobStatus.CANCELLED
    row = stored(job)
    assert (row.status, row.error) == (JobStatus.CANCELLED, None)


@pytest.mark.parametrize("status", [JobStatus.QUEUED, JobStatus.RUNNING])
def test_mark_cancelled_ends_an_active_job(alice, status):
    job = make_job(owner=alice, status=status)
    assert job.mark_cancelled()
    row = stored(job)
    assert row.status == JobStatus.CANCELLED
    assert row.finished_at is not None
    assert row.cancel_requested_at == row.finished_at  # asked and done at once


def test_mark_cancelled_keeps_when_the_cancel_was_asked(alice):
    job = make_job(owner=alice, status=JobStatus.RUNNING)
    assert job.request_cancel()
    asked = stored(job).cancel_requested_at
    assert job.mark_cancelled()
    row = stored(job)
    assert row.cancel_requested_at == asked
    assert row.finished_at >= asked


def test_a_succeeded_job_cannot_be_cancelled(alice):
    job = make_job(owner=alice, status=JobStatus.RUNNING)
    cancelling = stored(job)
    assert job.mark_succeeded({"done": 1})
    assert not cancelling.mark_cancelled()
    assert cancelling.status == JobStatus.SUCCEEDED
    row = stored(job)
    assert (row.status, row.cancel_requested_at, row.result) == (JobStatus.SUCCEEDED, None, {"done": 1})


def test_mark_retrying_queues_a_running_job_again_with_its_error(alice):
    job = start(make_job(owner=alice))
    assert job.mark_retrying(ERROR)
    row = stored(job)
    assert (row.status, row.error, row.attempts, row.finished_at) == (JobStatus.QUEUED, ERROR, 1, None)


@pytest.mark.parametrize("status", [JobStatus.QUEUED, JobStatus.SUCCEEDED, JobStatus.CANCELLED])
def test_only_a_running_job_is_retried(alice, status):
    job = make_job(owner=alice, status=status)
    assert not job.mark_retrying(ERROR)
    assert (stored(job).status, stored(job).error) == (status, None)


def test_request_cancel_marks_a_running_job_and_leaves_it_running(alice):
    job = make_job(owner=alice, status=JobStatus.RUNNING)
    assert job.request_cancel()
    row = stored(job)
    assert row.status == JobStatus.RUNNING
    assert row.cancel_requested_at is not None and row.finished_at is None


@pytest.mark.parametrize("status", [JobStatus.QUEUED, JobStatus.SUCCEEDED, JobStatus.FAILED])
def test_request_cancel_applies_only_to_a_running_job(alice, status):
    job = make_job(owner=alice, status=status)
    assert not job.request_cancel()
    assert stored(job).cancel_requested_at is None


def test_claim_reads_the_row_back_where_the_database_cannot_return_it(alice, monkeypatch):
    from django.db import connection

    monkeypatch.setattr(connection.features, "can_return_columns_from_insert", False)
    job = make_job(owner=alice)
    claimed = Job.objects.claim(job.pk, task=job.task)
    assert claimed is not None and (claimed.status, claimed.attempts) == (JobStatus.RUNNING, 1)
    assert Job.objects.claim(job.pk, task=job.task) is None
    assert stored(job).attempts == 1
