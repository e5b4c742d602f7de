"""``jobs.runtime.execute``: what a Celery task does with one Job, seen on the row and the stream."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from jobs import job
from jobs.models import JobStatus
from jobs.runtime import execute
from realtime.stream import read_after
from tests.conftest import make_job

# Committed for real: a transition's event leaves on commit (jobs/lifecycle.py), as in a worker.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("redis_db")]


def frames_of(user: Any) -> list[dict[str, Any]]:
    history = read_after(user.pk, 0, 1000)
    assert not history.resync
    frames = [orjson.loads(frame) for _, frame in history.frames]
    assert [f["seq"] for f in frames] == list(range(1, len(frames) + 1))
    return frames


def test_a_job_that_succeeds(alice):
    job_row = make_job(owner=alice, task="demo.count", params={"n": 3, "interval_ms": 0})
    execute(str(job_row.id), task_name="demo.count")

    job_row.refresh_from_db()
    assert job_row.status == JobStatus.SUCCEEDED
    assert job_row.result == {"counted": 3}
    assert job_row.error is None
    assert job_row.attempts == 1
    assert job_row.started_at is not None
    assert job_row.finished_at is not None
    assert job_row.created_at <= job_row.started_at <= job_row.finished_at
    assert (job_row.progress_current, job_row.progress_total, job_row.percent) == (3, 3, 100.0)

    frames = frames_of(alice)
    types = [f["type"] for f in frames]
    assert types[0] == "job.started"
    assert types[-1] == "job.succeeded"
    assert set(types[1:-1]) == {"job.progress"}
    assert all(f["job"] == str(job_row.id) for f in frames)
    assert frames[0]["data"]["attempt"] == 1 and frames[0]["data"]["worker"]
    assert frames[-2]["data"] == {"current": 3, "total": 3, "percent": 100.0, "message": "", "attempt": 1}
    assert frames[-1]["data"] == {"result": {"counted": 3}, "attempt": 1}


def test_a_job_that_fails_ends_failed_with_its_message(alice):
    job_row = make_job(owner=alice, task="demo.fail", params={"message": "no more coffee"})
    execute(str(job_row.id), task_name="demo.fail")

    job_row.refresh_from_db()
    assert job_row.status == JobStatus.FAILED
    assert job_row.error == {"type": "JobFailed", "message": "no more coffee"}
    assert job_row.result is None
    assert job_row.finished_at is not None
    frames = frames_of(alice)
    assert [f["type"] for f in frames] == ["job.started", "job.failed"]
    assert frames[-1]["data"] == {"error": {"type": "JobFailed", "message": "no more coffee"}, "attempt": 1}


def test_coucou_pushes_its_greeting_between_start_and_success(alice):
    job_row = make_job(owner=alice, task="coucou", params={})
    execute(str(job_row.id), task_name="coucou")
    frames = frames_of(alice)
    assert [f["type"] for f in frames] == ["job.started", "coucou", "job.succeeded"]
    assert frames[1]["data"] == {"message": "coucou alice"}


def test_seq_continues_across_jobs_of_one_user(alice, bob):
    for owner in (alice, bob, alice):
        execute(str(make_job(owner=owner, task="coucou", params={}).id), task_name="coucou")
    assert len(frames_of(alice)) == 6
    assert len(frames_of(bob)) == 3


def test_a_task_name_mismatch_does_nothing(alice):
    job_row = make_job(owner=alice, task="demo.count")
    execute(str(job_row.id), task_name="demo.fail")
    job_row.refresh_from_db()
    assert (job_row.status, job_row.attempts, job_row.started_at) == (JobStatus.QUEUED, 0, None)
    assert read_after(alice.pk, 0, 10).latest == 0


def test_an_unknown_job_id_does_nothing(alice):
    execute("8a1e7c52-0000-4000-8000-000000000000", task_name="demo.count")
    assert read_after(alice.pk, 0, 10).latest == 0


def test_a_finished_job_delivered_again_is_not_run_again(alice):
    job_row = make_job(owner=alice, task="coucou", params={})
    execute(str(job_row.id), task_name="coucou")
    execute(str(job_row.id), task_name="coucou")
    job_row.refresh_from_db()
    assert job_row.attempts == 1
    assert len(frames_of(alice)) == 3


@pytest.fixture
def scratch_jobs(scratch_registry: None) -> None:

    @job("tests.crash")
    def crash(ctx):
        raise KeyError("missing")

    @job("tests.not_json")
    def not_json(ctx):
        return {"when": object()}


@pytest.mark.usefixtures("scratch_jobs")
@pytest.mark.parametrize(
    ("task", "error_type", "message"),
    [
        ("tests.crash", "KeyError", "'missing'"),
        ("tests.not_json", "JobFailed", "the job's result is not JSON-serializable"),
    ],
)
def test_an_unexpected_error_ends_the_job_failed(alice, task, error_type, message, caplog):
    job_row = make_job(owner=alice, task=task, params={})
    execute(str(job_row.id), task_name=task)
    job_row.refresh_from_db()
    assert job_row.status == JobStatus.FAILED
    assert job_row.error["type"] == error_type
    assert job_row.error["message"].startswith(message)
    assert frames_of(alice)[-1]["type"] == "job.failed"
