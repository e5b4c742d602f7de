"""``job_cancel`` and what the worker does with it: the rows and the events the owner sees."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from jobs import conf, job
from jobs.exceptions import JobAlreadyFinished, JobNotFound
from jobs.models import Job, JobStatus
from jobs.runtime import execute
from jobs.services import job_cancel
from jobs.supervision import supervisor
from tests.conftest import events_of, make_job

# Committed for real: a transition's event leaves on commit (jobs/lifecycle.py), as in a worker.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("redis_db")]


def running_job(owner: Any, **fields: Any) -> Job:
    return make_job(owner=owner, status=JobStatus.RUNNING, attempts=1, started_at=timezone.now(), **fields)


def test_a_queued_job_is_cancelled_at_once(alice):
    queued = make_job(owner=alice)
    returned = job_cancel(owner=alice, job_id=queued.pk)
    row = Job.objects.get(pk=queued.pk)
    assert returned.status == row.status == JobStatus.CANCELLED
    assert row.finished_at is not None and row.cancel_requested_at is not None
    [event] = events_of(alice)
    assert (event["type"], event["job"]) == ("job.cancelled", str(queued.pk))
    assert event["data"] == {"attempt": 0, "forced": False}


def test_a_cancelled_job_never_runs_when_its_message_arrives(alice):
    queued = make_job(owner=alice, task="coucou", params={})
    job_cancel(owner=alice, job_id=str(queued.pk))
    execute(str(queued.pk), task_name="coucou")
    row = Job.objects.get(pk=queued.pk)
    assert (row.status, row.attempts, row.started_at) == (JobStatus.CANCELLED, 0, None)
    assert [e["type"] for e in events_of(alice)] == ["job.cancelled"]


def test_a_job_waiting_for_its_retry_is_cancelled_like_a_queued_one(alice):
    waiting = make_job(owner=alice, attempts=1, error={"type": "ConnectionError", "message": "try again"})
    assert job_cancel(owner=alice, job_id=waiting.pk).status == JobStatus.CANCELLED
    assert events_of(alice)[0]["data"] == {"attempt": 1, "forced": False}


def test_a_running_job_is_asked_to_stop_and_keeps_running_until_it_does(alice):
    busy = running_job(alice)
    returned = job_cancel(owner=alice, job_id=busy.pk)
    row = Job.objects.get(pk=busy.pk)
    assert returned.status == row.status == JobStatus.RUNNING
    assert row.cancel_requested_at is not None and row.finished_at is None
    assert events_of(alice) == []  # the worker reports the end


def test_asking_twice_for_a_running_job_is_fine(alice):
    busy = running_job(alice)
    job_cancel(owner=alice, job_id=busy.pk)
    assert job_cancel(owner=alice, job_id=busy.pk).status == JobStatus.RUNNING


@pytest.mark.parametrize("status", [JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED])
def test_a_finished_job_cannot_be_cancelled(alice, status):
    done = make_job(owner=alice, status=status)
    with pytest.raises(JobAlreadyFinished) as caught:
        job_cancel(owner=alice, job_id=done.pk)
    assert caught.value.args == (status,)
    assert Job.objects.get(pk=done.pk).cancel_requested_at is None
    assert events_of(alice) == []


def test_only_the_owner_can_cancel(alice, bob):
    theirs = running_job(bob)
    with pytest.raises(JobNotFound):
        job_cancel(owner=alice, job_id=theirs.pk)
    with pytest.raises(JobNotFound):
        job_cancel(owner=alice, job_id=uuid.uuid4())
    row = Job.objects.get(pk=theirs.pk)
    assert (row.status, row.cancel_requested_at) == (JobStatus.RUNNING, None)
    assert events_of(bob) == []


def cancel_from_the_owner(ctx: Any) -> None:
    """What the user does while the body runs: POST /api/jobs/{id}/cancel."""
    job_cancel(owner=get_user_model().objects.get(pk=ctx.owner_id), job_id=ctx.job_id)


@pytest.fixture
def scratch_jobs(scratch_registry: None) -> None:

    @job("tests.cooperative")
    def cooperative(ctx):
        cancel_from_the_owner(ctx)
        supervisor().tick(conf.get())  # the worker's next supervision tick
        ctx.check_cancelled()
        return "not cancelled"

    @job("tests.quick")
    def quick(ctx):
        cancel_from_the_owner(ctx)
        return "done first"

    @job("tests.stubborn")
    def stubborn(ctx):
        cancel_from_the_owner(ctx)
        past_grace = dataclasses.replace(conf.get(), cancel_grace_s=0)
        for _ in range(2):  # the first tick sees the flag, the next one is past the grace period
            supervisor().tick(past_grace)
        return "ignored the cancel"


def run(owner: Any, task: str) -> Job:
    row = make_job(owner=owner, task=task, params={})
    execute(str(row.pk), task_name=task)
    return Job.objects.get(pk=row.pk)


@pytest.mark.usefixtures("scratch_jobs")
def test_a_running_job_that_checks_stops_as_cancelled(alice):
    row = run(alice, "tests.cooperative")
    assert (row.status, row.result, row.error) == (JobStatus.CANCELLED, None, None)
    assert row.finished_at is not None and row.cancel_requested_at is not None
    events = events_of(alice)
    assert [e["type"] for e in events] == ["job.started", "job.cancelled"]
    assert events[-1]["data"] == {"attempt": 1, "forced": False}


@pytest.mark.usefixtures("scratch_jobs")
def test_a_job_that_finishes_before_it_sees_the_cancel_succeeds(alice):
    row = run(alice, "tests.quick")
    assert (row.status, row.result) == (JobStatus.SUCCEEDED, "done first")
    assert [e["type"] for e in events_of(alice)] == ["job.started", "job.succeeded"]


@pytest.mark.usefixtures("scratch_jobs")
def test_a_job_that_ignores_the_cancel_is_stopped_by_force_after_the_grace_period(alice):
    row = run(alice, "tests.stubborn")
    assert (row.status, row.result) == (JobStatus.CANCELLED, None)
    events = events_of(alice)
    assert [e["type"] for e in events] == ["job.started", "job.cancelled"]  # one end, not two
    assert events[-1]["data"] == {"attempt": 1, "forced": True}
