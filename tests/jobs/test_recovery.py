"""Duplicate deliveries and dead workers: ``execute``, ``recover_lost`` and the reaper."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from jobs import runtime
from jobs.models import Job, JobStatus
from jobs.reaper import reap_lost_jobs
from jobs.runtime import execute, recover_lost
from jobs.supervision import HOST, heartbeat_key
from realtime import publish
from tests.conftest import broker_messages, events_of, make_job

NO_SUCH_PID = 2**22 + 1  # above Linux's largest pid_max
THIS_PROCESS = f"{HOST}:{os.getpid()}"
DEAD_HERE = f"{HOST}:{NO_SUCH_PID}"
WORKER_LOST = {"type": "WorkerLost", "message": "its worker died; running it again"}

# Committed for real: a transition's event leaves on commit (jobs/lifecycle.py), as in a worker.
pytestmark = pytest.mark.django_db(transaction=True)


def running_job(owner: Any, *, attempts: int = 1, started_s_ago: float = 0, **fields: Any) -> Job:
    started = timezone.now() - timedelta(seconds=started_s_ago)
    return make_job(owner=owner, status=JobStatus.RUNNING, attempts=attempts, started_at=started, **fields)


def heartbeat(redis: Any, job: Job, owner: str) -> None:
    redis.set(heartbeat_key(str(job.pk)), owner, ex=60)


def deliver(job: Job) -> Job:
    execute(str(job.pk), task_name=job.task)
    return Job.objects.get(pk=job.pk)


def deliver_queued_message(redis: Any) -> None:
    """What a worker does with the message waiting in the broker."""
    [message] = broker_messages(redis)
    redis.delete("celery")
    execute(message["headers"]["id"], task_name=message["headers"]["task"])


@pytest.mark.parametrize("owner", [THIS_PROCESS, f"elsewhere:{NO_SUCH_PID}"])
def test_a_duplicate_delivery_leaves_a_job_that_runs_elsewhere_alone(alice, redis_db, owner):
    job = running_job(alice)
    heartbeat(redis_db, job, owner)
    row = deliver(job)
    assert (row.status, row.attempts, row.error) == (JobStatus.RUNNING, 1, None)
    assert events_of(alice) == []
    assert redis_db.llen("celery") == 0


def test_a_duplicate_delivered_while_the_job_starts_is_ignored(alice, redis_db, monkeypatch):
    starting = make_job(owner=alice, task="coucou", params={})

    def publish_then_redeliver(user_id: int, type: str, data: Any, *, job: str) -> int:
        seq = publish(user_id, type, data, job=job)
        if type == "job.started":  # the broker hands the same message to another worker now
            execute(job, task_name="coucou")
        return seq

    monkeypatch.setattr("jobs.runtime.publish", publish_then_redeliver)
    row = deliver(starting)
    assert (row.status, row.attempts) == (JobStatus.SUCCEEDED, 1)
    assert [e["type"] for e in events_of(alice)] == ["job.started", "coucou", "job.succeeded"]
    assert redis_db.llen("celery") == 0


def test_a_duplicate_delivered_between_the_claim_and_the_heartbeat_is_ignored(alice, redis_db, monkeypatch):
    starting = make_job(owner=alice, task="coucou", params={})
    supervisor = runtime.supervisor()
    watch = supervisor.watch

    def redeliver_then_watch(job_id: str, **kwargs: Any) -> None:
        execute(job_id, task_name="coucou")  # the other delivery loses the claim right now
        watch(job_id, **kwargs)

    monkeypatch.setattr(supervisor, "watch", redeliver_then_watch)
    row = deliver(starting)
    assert (row.status, row.attempts, row.error) == (JobStatus.SUCCEEDED, 1, None)
    assert [e["type"] for e in events_of(alice)] == ["job.started", "coucou", "job.succeeded"]
    assert redis_db.llen("celery") == 0


def test_a_job_started_moments_ago_without_a_heartbeat_is_left_to_the_reaper(alice, redis_db):
    job = running_job(alice, started_s_ago=1)  # the heartbeat TTL is 10 s
    row = deliver(job)
    assert (row.status, row.attempts, row.error) == (JobStatus.RUNNING, 1, None)
    assert events_of(alice) == []
    assert redis_db.llen("celery") == 0


@pytest.mark.parametrize("owner", [DEAD_HERE, None])
def test_a_redelivered_job_whose_worker_died_is_queued_again(alice, redis_db, owner):
    # A heartbeat naming a dead process of this host tells at once; none at all, once the
    # heartbeat would have expired.
    job = running_job(alice, started_s_ago=0 if owner else 60)
    if owner is not None:
        heartbeat(redis_db, job, owner)
    row = deliver(job)
    assert (row.status, row.attempts, row.error) == (JobStatus.QUEUED, 1, WORKER_LOST)
    [event] = events_of(alice)
    assert (event["type"], event["job"]) == ("job.retrying", str(job.pk))
    assert event["data"] == {"attempt": 1, "delay": 0, "error": WORKER_LOST}
    [message] = broker_messages(redis_db)
    assert (message["headers"]["task"], message["headers"]["id"]) == ("demo.count", str(job.pk))
    assert message["headers"]["eta"] is None


def test_the_requeued_job_then_runs_to_the_end_as_its_next_attempt(alice, redis_db):
    job = running_job(alice, params={"n": 2, "interval_ms": 0})
    heartbeat(redis_db, job, DEAD_HERE)
    deliver(job)
    deliver_queued_message(redis_db)
    row = Job.objects.get(pk=job.pk)
    assert (row.status, row.attempts, row.result, row.error) == (JobStatus.SUCCEEDED, 2, {"counted": 2}, None)
    events = events_of(alice)
    assert [e["type"] for e in events if e["type"] != "job.progress"] == [
        "job.retrying", "job.started", "job.succeeded",
    ]  # fmt: skip
    assert events[1]["data"]["attempt"] == 2


def test_a_job_whose_worker_died_on_every_attempt_fails(alice, redis_db, settings):
    settings.JOBS_MAX_ATTEMPTS = 2
    job = running_job(alice, attempts=2, started_s_ago=60)
    row = deliver(job)
    error = {"type": "WorkerLost", "message": "its worker died during each of 2 attempts"}
    assert (row.status, row.error, row.attempts) == (JobStatus.FAILED, error, 2)
    assert row.finished_at is not None
    [event] = events_of(alice)
    assert (event["type"], event["data"]) == ("job.failed", {"error": error, "attempt": 2})
    assert redis_db.llen("celery") == 0


def test_a_job_whose_cancel_was_asked_is_not_run_again_when_its_worker_dies(alice, redis_db):
    job = running_job(alice, started_s_ago=60, cancel_requested_at=timezone.now())
    row = deliver(job)
    assert (row.status, row.attempts) == (JobStatus.CANCELLED, 1)
    assert row.finished_at is not None
    [event] = events_of(alice)
    assert (event["type"], event["data"]) == ("job.cancelled", {"attempt": 1, "forced": True})
    assert redis_db.llen("celery") == 0


@pytest.mark.parametrize("status", [JobStatus.SUCCEEDED, JobStatus.QUEUED])
def test_recover_lost_leaves_a_job_that_is_no_longer_running(alice, redis_db, status):
    stale = running_job(alice)
    Job.objects.filter(pk=stale.pk).update(status=status)  # it moved on since it was read
    recover_lost(stale)
    assert Job.objects.get(pk=stale.pk).status == status
    assert events_of(alice) == []
    assert redis_db.llen("celery") == 0


@pytest.fixture
def short_heartbeats(settings: Any) -> None:
    settings.JOBS_HEARTBEAT_TTL_S = 2


@pytest.mark.usefixtures("short_heartbeats")
def test_the_reaper_requeues_a_running_job_without_a_heartbeat(alice, redis_db):
    lost = running_job(alice, started_s_ago=5)
    assert reap_lost_jobs() == 1
    row = Job.objects.get(pk=lost.pk)
    assert (row.status, row.error) == (JobStatus.QUEUED, WORKER_LOST)
    assert [e["type"] for e in events_of(alice)] == ["job.retrying"]
    assert [m["headers"]["id"] for m in broker_messages(redis_db)] == [str(lost.pk)]
    assert reap_lost_jobs() == 0  # it is queued now


@pytest.mark.usefixtures("short_heartbeats")
def test_the_reaper_leaves_live_young_and_finished_jobs_alone(alice, redis_db):
    beating = running_job(alice, started_s_ago=60)
    heartbeat(redis_db, beating, DEAD_HERE)  # the reaper trusts a heartbeat until it expires
    young = running_job(alice, started_s_ago=0)  # its worker has not written one yet
    finished = make_job(
        owner=alice, status=JobStatus.SUCCEEDED, started_at=timezone.now() - timedelta(hours=1)
    )
    assert reap_lost_jobs() == 0
    assert [Job.objects.get(pk=j.pk).status for j in (beating, young, finished)] == [
        JobStatus.RUNNING, JobStatus.RUNNING, JobStatus.SUCCEEDED,
    ]  # fmt: skip
    assert events_of(alice) == []
    assert redis_db.llen("celery") == 0


@pytest.mark.usefixtures("short_heartbeats")
def test_one_reaper_per_job_however_many_workers_sweep(alice, redis_db):
    lost = running_job(alice, started_s_ago=5)
    redis_db.set(f"coucou:job:{lost.pk}:reaping", "1", ex=3)  # another worker's reaper has it
    assert reap_lost_jobs() == 0
    assert Job.objects.get(pk=lost.pk).status == JobStatus.RUNNING
    assert redis_db.llen("celery") == 0


@pytest.mark.usefixtures("short_heartbeats")
def test_the_reaper_fails_a_job_out_of_attempts(alice, redis_db, settings):
    settings.JOBS_MAX_ATTEMPTS = 3
    lost = running_job(alice, attempts=3, started_s_ago=5)
    assert reap_lost_jobs() == 1
    row = Job.objects.get(pk=lost.pk)
    assert (row.status, row.error["type"]) == (JobStatus.FAILED, "WorkerLost")
    assert [e["type"] for e in events_of(alice)] == ["job.failed"]
    assert redis_db.llen("celery") == 0


# --- a message a dead worker had received but not started -------------------------------------


def test_a_queued_job_whose_message_died_with_its_worker_is_sent_again(alice, redis_db):
    from jobs.reaper import alive_key, received_key, redeliver_stranded

    stranded = make_job(owner=alice)
    waiting = make_job(owner=alice)  # received by a worker that is alive
    unmarked = make_job(owner=alice)  # still in the queue: nobody received it
    redis_db.set(received_key(str(stranded.pk)), f"w1@gone|{time.time():.3f}")
    redis_db.set(received_key(str(waiting.pk)), f"w2@here|{time.time():.3f}")
    redis_db.set(alive_key("w2@here"), "1")
    assert redeliver_stranded() == 1
    assert [m["headers"]["id"] for m in broker_messages(redis_db)] == [str(stranded.pk)]
    assert redeliver_stranded() == 0  # once
    assert unmarked.pk and Job.objects.get(pk=stranded.pk).status == JobStatus.QUEUED


def test_a_retry_is_not_sent_early_for_an_earlier_attempts_mark(alice, redis_db):
    from jobs.reaper import received_key, redeliver_stranded

    before = time.time() - 60
    retry = make_job(owner=alice, attempts=1, started_at=timezone.now())  # queued again, its delay running
    redis_db.set(received_key(str(retry.pk)), f"w1@gone|{before:.3f}")
    assert redeliver_stranded() == 0
    assert broker_messages(redis_db) == []
