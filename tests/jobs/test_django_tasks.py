"""``CoucouBackend``: Django 6's ``django.tasks`` on Job rows, the owner's stream and the runtime.

Django 6 only (``make test-django6``); skipped on 5.2, where ``django.tasks`` does not exist.
"""

from __future__ import annotations

import sys
import uuid
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import async_to_sync

pytest.importorskip("django.tasks")

from django.contrib.auth import get_user_model
from django.tasks import TaskResultStatus
from django.tasks.exceptions import InvalidTask, TaskResultDoesNotExist
from django.utils import timezone

from jobs import tasks_backend
from jobs.exceptions import JobCancelled, UnknownTask
from jobs.models import Job, JobStatus
from jobs.runtime import execute
from jobs.services import job_cancel, job_rerun, job_submit
from jobs.tasks_backend.backend import CoucouBackend
from tests.conftest import broker_messages, events_of, make_job
from tests.django_tasks_app import tasks

# Transactional: a job's events and Celery message leave on commit, as they do in production.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("redis_db")]

BACKEND = {"default": {"BACKEND": "jobs.tasks_backend.backend.CoucouBackend"}}


@pytest.fixture(autouse=True)
def coucou_tasks(settings: Any) -> None:
    settings.TASKS = BACKEND


def run(result: Any) -> Job:
    """What the worker does with the job's Celery message, in this process."""
    job = Job.objects.get(pk=result.id)
    execute(str(job.pk), task_name=job.task)
    job.refresh_from_db()
    return job


def test_the_backend_is_coucous_and_says_what_it_supports():
    backend = tasks.count.get_backend()
    assert isinstance(backend, CoucouBackend)
    assert (backend.supports_get_result, backend.supports_async_task) == (True, True)
    assert (backend.supports_defer, backend.supports_priority) == (False, False)


def test_enqueue_makes_a_queued_job_of_the_owner_and_sends_its_celery_message(alice, redis_db):
    with tasks_backend.owner(alice):
        result = tasks.count.enqueue(3, label="three")

    job = Job.objects.get(pk=result.id)
    assert job.owner == alice
    assert job.task == "django:tests.django_tasks_app.tasks.count"
    assert job.params == {"args": [3], "kwargs": {"label": "three"}}
    assert job.status == JobStatus.QUEUED
    assert result.status == TaskResultStatus.READY
    assert (result.args, result.kwargs, result.backend) == ([3], {"label": "three"}, "default")
    assert result.enqueued_at == job.created_at and result.started_at is None and result.attempts == 0
    [message] = broker_messages(redis_db)
    assert message["headers"]["task"] == "coucou.django_task"
    assert message["headers"]["id"] == str(job.pk)
    [queued] = events_of(alice)
    assert (queued["type"], queued["job"]) == ("job.queued", str(job.pk))
    assert queued["data"]["task"] == job.task


def test_without_an_owner_the_job_belongs_to_the_inactive_system_user(alice):
    first = Job.objects.get(pk=tasks.count.enqueue(1).id)
    second = Job.objects.get(pk=tasks.count.enqueue(2).id)

    system = get_user_model().objects.get(username=tasks_backend.SYSTEM_USERNAME)
    assert first.owner == second.owner == system
    assert not system.is_active and not system.has_usable_password()
    assert not Job.objects.owned_by(alice).exists()


def test_owner_needs_a_saved_user():
    with pytest.raises(ValueError, match="saved user"), tasks_backend.owner(get_user_model()(username="x")):
        pass


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ((object(),), {}, "args as JSON: Unsupported type"),
        ((), {"label": timezone.now()}, "kwargs as JSON: Unsupported type"),
        (({1: "a"},), {}, r"key 1 is not a string"),
        ((float("nan"),), {}, "args as JSON"),
    ],
)
def test_arguments_that_are_not_json_are_refused_at_enqueue(alice, args, kwargs, match):
    with pytest.raises(TypeError, match=match), tasks_backend.owner(alice):
        tasks.count.enqueue(*args, **kwargs)
    assert not Job.objects.exists()


def test_run_after_and_priority_are_refused_as_django_says():
    with pytest.raises(InvalidTask, match="run_after"):
        tasks.count.using(run_after=timezone.now() + timedelta(minutes=1)).enqueue(1)
    with pytest.raises(InvalidTask, match="priority"):
        tasks.count.using(priority=10).enqueue(1)
    with pytest.raises(InvalidTask, match="Queue 'slow'"):
        tasks.count.using(queue_name="slow").enqueue(1)
    assert not Job.objects.exists()


def test_a_task_runs_as_a_job_with_progress_and_get_result_reads_its_row(alice):
    with tasks_backend.owner(alice):
        result = tasks.count.enqueue(5, label="five")
    job = run(result)

    assert job.status == JobStatus.SUCCEEDED
    assert job.result == {"counted": 5, "label": "five"}
    assert (job.progress_current, job.progress_total, job.progress_message) == (5, 5, "five")
    types = [e["type"] for e in events_of(alice)]
    assert types[:2] == ["job.queued", "job.started"] and types[-1] == "job.succeeded"
    assert "job.progress" in types

    result.refresh()
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == {"counted": 5, "label": "five"}
    assert result.started_at == job.started_at == result.last_attempted_at
    assert result.finished_at == job.finished_at
    assert result.attempts == 1 and result.errors == []
    again = tasks.count.get_result(result.id)
    assert again.status == TaskResultStatus.SUCCESSFUL and again.return_value == result.return_value


def test_a_failing_task_reports_failed_with_its_exception(alice):
    with tasks_backend.owner(alice):
        result = tasks.fail.enqueue("no more coffee")
    job = run(result)

    assert job.status == JobStatus.FAILED
    assert job.error == {"type": "ValueError", "message": "no more coffee"}
    assert events_of(alice)[-1]["type"] == "job.failed"
    result.refresh()
    assert result.status == TaskResultStatus.FAILED and result.is_finished
    [error] = result.errors
    assert error.exception_class is ValueError
    assert error.exception_class_path == "builtins.ValueError"
    assert "no more coffee" in error.traceback
    with pytest.raises(ValueError, match="Task failed"):
        result.return_value  # Django's property raises for a failed task


def test_a_tasks_own_exception_is_found_in_its_module(alice):
    result = tasks.over_quota.enqueue()
    run(result)
    [error] = tasks.over_quota.get_result(result.id).errors
    assert error.exception_class is tasks.QuotaExceeded


def test_a_task_that_takes_context_gets_its_running_result(alice):
    with tasks_backend.owner(alice):
        result = tasks.introspect.enqueue("alice")
    job = run(result)
    assert job.result == {"hello": "alice", "attempt": 1, "id": str(job.pk), "status": "RUNNING"}


def test_an_async_task_runs_and_reports_progress(alice):
    with tasks_backend.owner(alice):
        result = tasks.acount.enqueue(4)
    job = run(result)
    assert job.status == JobStatus.SUCCEEDED and job.result == {"counted": 4}
    assert job.progress_current == 4
    assert "job.progress" in [e["type"] for e in events_of(alice)]


def test_a_return_value_that_is_not_json_fails_the_job(alice):
    job = run(tasks.returns_a_date.enqueue())
    assert job.status == JobStatus.FAILED
    assert job.error is not None and job.error["type"] == "TypeError"


def test_cancel_of_a_queued_task_reads_as_failed_with_job_cancelled(alice):
    with tasks_backend.owner(alice):
        result = tasks.sleep.enqueue(60)
    job_cancel(owner=alice, job_id=result.id)
    run(result)  # its message arrives: it never runs

    assert Job.objects.get(pk=result.id).status == JobStatus.CANCELLED
    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    assert result.started_at is None and result.finished_at is not None
    [error] = result.errors
    assert error.exception_class is JobCancelled


def test_aenqueue_keeps_the_owner(alice):
    with tasks_backend.owner(alice):
        result = async_to_sync(tasks.count.aenqueue)(2)
    assert Job.objects.get(pk=result.id).owner == alice
    assert async_to_sync(tasks.count.aget_result)(result.id).status == TaskResultStatus.READY


def test_the_helpers_do_nothing_outside_a_coucou_job():
    assert tasks.count.call(3) == {"counted": 3, "label": "counting"}
    tasks_backend.check_cancelled()
    assert tasks_backend.job_context() is None


def test_the_helpers_reach_the_running_jobs_context(alice):
    from jobs.context import JobContext
    from jobs.tasks_backend.runner import current_job

    ctx = JobContext(job_id="j", owner_id=alice.pk, task="django:x.y", attempt=1, emit=lambda *a: None)
    ctx._cancelled = True
    token = current_job.set(ctx)
    try:
        assert tasks_backend.job_context() is ctx
        with pytest.raises(JobCancelled):
            tasks_backend.check_cancelled()
        with pytest.raises(JobCancelled):
            tasks_backend.progress(1, 2)
    finally:
        current_job.reset(token)
        ctx.close()


def test_get_result_knows_only_the_jobs_of_django_tasks(alice):
    coucou = make_job(owner=alice, task="coucou", params={})
    for result_id in ("not-a-uuid", str(uuid.uuid4()), str(coucou.pk)):
        with pytest.raises(TaskResultDoesNotExist):
            tasks.count.get_backend().get_result(result_id)


# --- who may start a django: job -----------------------------------------------------------


def test_rest_refuses_a_django_name_as_an_unknown_task_and_imports_nothing(alice, alice_token):
    from django.test import Client

    client = Client(HTTP_AUTHORIZATION=f"Bearer {alice_token}")
    assert "antigravity" not in sys.modules
    for name in ("django:tests.django_tasks_app.tasks.count", "django:antigravity.fly", "django:os.system"):
        response = client.post(
            "/api/jobs", {"task": name, "params": {"args": [1]}}, content_type="application/json"
        )
        assert response.status_code == 422, response.content
        [error] = response.json()["detail"]
        assert error["loc"] == ["body", "task"] and error["type"] == "unknown_task"
    assert "antigravity" not in sys.modules
    assert not Job.objects.exists()
    listed = client.get("/api/tasks").json()
    assert not [t for t in listed if t["name"].startswith("django:")]


def test_job_submit_and_rerun_refuse_django_names_outside_the_backend(alice):
    with pytest.raises(UnknownTask):
        job_submit(owner=alice, task="django:tests.django_tasks_app.tasks.count", params={"args": [1]})
    with tasks_backend.owner(alice):
        done = Job.objects.get(pk=tasks.count.enqueue(1).id)
    with pytest.raises(UnknownTask):
        job_rerun(done)


@pytest.mark.parametrize(
    "path", ["os.getcwd", "tests.django_tasks_app.tasks.not_a_task", "tests.django_tasks_app.nowhere.x"]
)
def test_the_worker_runs_only_a_django_task_at_its_path(alice, path):
    forged = make_job(owner=alice, task=f"django:{path}", params={"args": [], "kwargs": {}})
    execute(str(forged.pk), task_name=forged.task)
    forged.refresh_from_db()
    assert forged.status == JobStatus.FAILED
    assert forged.error is not None and forged.error["type"] == "JobFailed"
