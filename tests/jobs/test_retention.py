"""Retention: finished jobs are purged by age, in batches; queued and running ones never."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from datetime import timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from jobs import reaper
from jobs.lifecycle import do_retry
from jobs.models import Job, JobStatus
from jobs.reaper import PURGE_LOCK_KEY, purge_expired_jobs, run_periodic_checks
from jobs.retention import purge_finished
from jobs.services import job_submit
from tests.conftest import make_job

ROOT = Path(__file__).resolve().parents[2]


def finished(owner: Any, *, days_ago: float, status: str = JobStatus.SUCCEEDED, **fields: Any) -> Job:
    return make_job(
        owner=owner, status=status, finished_at=timezone.now() - timedelta(days=days_ago), **fields
    )


def remaining() -> set[Any]:
    return set(Job.objects.values_list("pk", flat=True))


def test_purge_deletes_only_finished_jobs_older_than_the_cutoff(alice):
    old = [
        finished(alice, days_ago=40, status=s)
        for s in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)
    ]
    young = finished(alice, days_ago=5)
    assert purge_finished(older_than=timedelta(days=30)) == 3
    assert remaining() == {young.pk}
    assert not Job.objects.filter(pk__in=[job.pk for job in old]).exists()


def test_queued_and_running_jobs_are_never_purged_however_old(alice):
    long_ago = timezone.now() - timedelta(days=3650)
    # Even with a finished_at (which a real queued or running job does not have): the status decides.
    queued = make_job(owner=alice, status=JobStatus.QUEUED, created_at=long_ago, finished_at=long_ago)
    running = make_job(
        owner=alice, status=JobStatus.RUNNING, created_at=long_ago, started_at=long_ago, finished_at=long_ago
    )
    never_finished = make_job(owner=alice, status=JobStatus.QUEUED, created_at=long_ago)
    assert purge_finished(older_than=timedelta(0)) == 0
    assert remaining() == {queued.pk, running.pk, never_finished.pk}


def test_a_retried_job_is_queued_without_a_finished_at(alice):
    job = make_job(owner=alice, status=JobStatus.RUNNING, started_at=timezone.now(), attempts=1)
    assert do_retry(job, {"type": "WorkerLost", "message": "again"}, delay=0, reason="worker_lost")
    job.refresh_from_db()
    assert (job.status, job.finished_at) == (JobStatus.QUEUED, None)
    assert purge_finished(older_than=timedelta(0)) == 0


def test_purge_goes_in_batches_oldest_first(alice):
    jobs = [finished(alice, days_ago=100 - i) for i in range(7)]
    keep = finished(alice, days_ago=1)
    batches: list[tuple[int, int]] = []
    gone_after_first: list[set[Any]] = []

    def on_batch(deleted: int, total: int) -> None:
        batches.append((deleted, total))
        if len(batches) == 1:
            gone_after_first.append({job.pk for job in jobs} - remaining())

    assert purge_finished(older_than=timedelta(days=30), batch_size=3, on_batch=on_batch) == 7
    assert batches == [(3, 3), (3, 6), (1, 7)]
    assert gone_after_first == [{job.pk for job in jobs[:3]}]  # the three oldest
    assert remaining() == {keep.pk}


def test_a_batch_size_that_divides_the_backlog_ends_with_an_empty_look(alice):
    for _ in range(4):
        finished(alice, days_ago=40)
    batches: list[tuple[int, int]] = []
    assert (
        purge_finished(older_than=timedelta(days=30), batch_size=2, on_batch=lambda *b: batches.append(b))
        == 4
    )
    assert batches == [(2, 2), (2, 4)]


def test_max_seconds_stops_after_the_batch_that_runs_past_it(alice):
    for _ in range(5):
        finished(alice, days_ago=40)
    assert purge_finished(older_than=timedelta(days=30), batch_size=2, max_seconds=0) == 2
    assert Job.objects.count() == 3


def test_purging_an_original_keeps_its_reruns_without_the_link(alice):
    original = finished(alice, days_ago=60)
    rerun_done = finished(alice, days_ago=2, rerun_of=original)
    rerun_running = make_job(
        owner=alice, status=JobStatus.RUNNING, started_at=timezone.now(), rerun_of=original
    )
    assert purge_finished(older_than=timedelta(days=30)) == 1
    assert remaining() == {rerun_done.pk, rerun_running.pk}
    rerun_done.refresh_from_db()
    rerun_running.refresh_from_db()
    assert (rerun_done.rerun_of_id, rerun_running.rerun_of_id) == (None, None)
    assert rerun_running.status == JobStatus.RUNNING


def test_an_original_and_its_old_reruns_go_in_one_batch_or_across_batches(alice):
    original = finished(alice, days_ago=60)
    first = finished(alice, days_ago=50, rerun_of=original)
    second = finished(alice, days_ago=45, rerun_of=first)
    young = finished(alice, days_ago=1, rerun_of=second)
    assert purge_finished(older_than=timedelta(days=30), batch_size=2) == 3
    young.refresh_from_db()
    assert remaining() == {young.pk}
    assert young.rerun_of_id is None


def test_bad_arguments_are_refused(alice):
    with pytest.raises(ValueError, match="negative"):
        purge_finished(older_than=timedelta(days=-1))
    with pytest.raises(ValueError, match="batch_size"):
        purge_finished(older_than=timedelta(days=1), batch_size=0)


# --- idempotency keys live as long as their Job row -------------------------------------------


def test_an_idempotency_key_returns_its_finished_job_within_retention(alice, redis_db):
    first = job_submit(owner=alice, task="demo.count", params={"n": 5}, idempotency_key="k-1")
    Job.objects.filter(pk=first.pk).update(
        status=JobStatus.SUCCEEDED, finished_at=timezone.now() - timedelta(days=29)
    )
    assert purge_finished(older_than=timedelta(days=30)) == 0
    again = job_submit(owner=alice, task="demo.count", params={"n": 5}, idempotency_key="k-1")
    assert again.pk == first.pk
    assert again.status == JobStatus.SUCCEEDED


def test_after_its_job_is_purged_an_idempotency_key_starts_a_new_job(alice, redis_db):
    first = job_submit(owner=alice, task="demo.count", params={"n": 5}, idempotency_key="k-1")
    Job.objects.filter(pk=first.pk).update(
        status=JobStatus.SUCCEEDED, finished_at=timezone.now() - timedelta(days=31)
    )
    assert purge_finished(older_than=timedelta(days=30)) == 1
    again = job_submit(owner=alice, task="demo.count", params={"n": 5}, idempotency_key="k-1")
    assert again.pk != first.pk
    assert again.status == JobStatus.QUEUED
    assert list(Job.objects.values_list("idempotency_key", flat=True)) == ["k-1"]


# --- manage.py purge_jobs -----------------------------------------------------------------------


def purge_jobs(*args: str) -> tuple[list[str], list[str]]:
    out, err = StringIO(), StringIO()
    call_command("purge_jobs", *args, stdout=out, stderr=err)
    return out.getvalue().splitlines(), err.getvalue().splitlines()


@pytest.mark.parametrize(
    ("age", "purged"),
    [("30", 1), ("30d", 1), ("1.5", 3), ("12h", 4), ("90m", 5), ("2w", 2), (" 30D ", 1)],
)
def test_the_command_takes_days_or_a_duration(alice, age, purged):
    for days_ago in (20, 40, 2, 1, 0.1):
        finished(alice, days_ago=days_ago)
    finished(alice, days_ago=0.01)  # 14 minutes ago: never purged here
    out, _ = purge_jobs("--older-than", age)
    assert out[-1].split()[0] == str(purged)
    assert Job.objects.count() == 6 - purged


def test_the_command_reports_each_batch_on_stderr_and_the_total_last_on_stdout(alice):
    for _ in range(5):
        finished(alice, days_ago=40)
    out, err = purge_jobs("--older-than", "30d", "--batch-size", "2")
    assert err == ["purged 2 (total 2)", "purged 2 (total 4)", "purged 1 (total 5)"]
    assert out == ["5 finished jobs purged (finished more than 30 days ago)"]
    assert Job.objects.count() == 0


def test_the_command_is_quiet_on_stderr_at_verbosity_0(alice):
    finished(alice, days_ago=40)
    out, err = purge_jobs("--older-than", "30", "-v", "0")
    assert (out[-1].split()[0], err) == ("1", [])


def test_a_dry_run_counts_and_deletes_nothing(alice):
    for days_ago in (40, 50, 1):
        finished(alice, days_ago=days_ago)
    make_job(owner=alice, status=JobStatus.QUEUED, created_at=timezone.now() - timedelta(days=99))
    out, _ = purge_jobs("--older-than", "30d", "--dry-run")
    assert out[-1].startswith("2 finished jobs would be purged (finished before ")
    assert Job.objects.count() == 4


def test_without_older_than_the_command_uses_jobs_retention_days(alice, settings):
    settings.JOBS_RETENTION_DAYS = 10
    old, young = finished(alice, days_ago=11), finished(alice, days_ago=9)
    out, _ = purge_jobs()
    assert out[-1] == "1 finished jobs purged (finished more than 10 days ago)"
    assert remaining() == {young.pk}
    assert not Job.objects.filter(pk=old.pk).exists()


@pytest.mark.parametrize("disabled", [0, None, ""])
def test_without_older_than_the_command_refuses_when_retention_is_off(alice, settings, disabled):
    settings.JOBS_RETENTION_DAYS = disabled
    finished(alice, days_ago=400)
    with pytest.raises(CommandError, match="retention is off"):
        purge_jobs()
    assert Job.objects.count() == 1


@pytest.mark.parametrize("age", ["abc", "-5", "12x", "", "30 days", "1e3", "999999999"])
def test_the_command_refuses_a_bad_age(alice, age):
    finished(alice, days_ago=400)
    with pytest.raises(CommandError, match="--older-than"):
        purge_jobs("--older-than", age)
    assert Job.objects.count() == 1


@pytest.mark.parametrize("size", ["0", "-3"])
def test_the_command_refuses_a_bad_batch_size(alice, size):
    with pytest.raises(CommandError, match="--batch-size"):
        purge_jobs("--older-than", "30", "--batch-size", size)


def test_from_the_shell_a_bad_age_exits_nonzero_without_a_traceback(tmp_path: Path):
    # A database of its own: the system checks open one (JSONField's), even for a bad argument.
    database = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    done = subprocess.run(
        [sys.executable, "manage.py", "purge_jobs", "--older-than", "soon"],
        cwd=ROOT,
        env={**os.environ, "PYTHONWARNINGS": "ignore", "DATABASE_URL": database},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("CommandError: --older-than: 'soon' is not an age")


# --- the workers' periodic sweep ----------------------------------------------------------------


def test_the_sweep_purges_once_per_interval_across_workers(alice, redis_db, settings, caplog):
    settings.JOBS_RETENTION_DAYS = 30
    settings.JOBS_PURGE_INTERVAL_S = 600
    finished(alice, days_ago=31)
    with caplog.at_level(logging.INFO, logger="jobs.reaper"):
        assert purge_expired_jobs() == 1
    assert "purged 1 finished jobs older than 30 days" in caplog.text
    assert 590 <= redis_db.ttl(PURGE_LOCK_KEY) <= 600
    later = finished(alice, days_ago=31)
    assert purge_expired_jobs() is None  # this worker or another, within the interval: nothing
    assert remaining() == {later.pk}
    redis_db.delete(PURGE_LOCK_KEY)  # the interval is over
    assert purge_expired_jobs() == 1
    assert remaining() == set()


def test_the_sweep_does_nothing_when_retention_is_off(alice, redis_db, settings):
    settings.JOBS_RETENTION_DAYS = 0
    finished(alice, days_ago=400)
    assert purge_expired_jobs() is None
    assert Job.objects.count() == 1
    assert not redis_db.exists(PURGE_LOCK_KEY)


def test_with_interval_0_the_sweep_leaves_the_purge_to_celery_beat(alice, redis_db, settings):
    from config.celery_app import app
    from jobs.retention import purge_expired

    settings.JOBS_RETENTION_DAYS, settings.JOBS_PURGE_INTERVAL_S = 30, 0
    old = finished(alice, days_ago=31)
    young = finished(alice, days_ago=1)
    assert purge_expired_jobs() is None
    assert remaining() == {old.pk, young.pk}
    # The beat schedule's task, registered with the worker's app by name.
    assert app.tasks["coucou.purge_jobs"].name == purge_expired.name == "coucou.purge_jobs"
    assert purge_expired() == 1
    assert remaining() == {young.pk}
    settings.JOBS_RETENTION_DAYS = 0
    finished(alice, days_ago=99)
    assert purge_expired() == 0


def test_a_sweep_cut_short_by_its_budget_lets_the_next_sweep_go_on(alice, redis_db, settings, monkeypatch):
    settings.JOBS_RETENTION_DAYS = 30
    settings.JOBS_PURGE_BATCH_SIZE = 2
    monkeypatch.setattr(reaper, "PURGE_SWEEP_BUDGET_S", 0)
    for _ in range(5):
        finished(alice, days_ago=40)
    assert [purge_expired_jobs() for _ in range(3)] == [2, 2, 1]
    assert Job.objects.count() == 0
    assert redis_db.exists(PURGE_LOCK_KEY)  # done: the next purge waits out the interval
    assert purge_expired_jobs() is None


@pytest.fixture
def in_test_transaction(db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sweep runs in its own thread, whose connection it replaces when broken or old; run
    here in the test's thread, that would close the test's connection (in its transaction)."""
    monkeypatch.setattr(reaper, "close_old_connections", lambda: None)


@pytest.mark.usefixtures("in_test_transaction")
def test_a_failing_check_neither_stops_the_others_nor_the_thread(monkeypatch, caplog):
    ran: list[str] = []

    def broken() -> None:
        raise RuntimeError("database is gone")

    monkeypatch.setattr(
        reaper, "PERIODIC_CHECKS", (("breaking", broken), ("recording", lambda: ran.append("ran")))
    )
    with caplog.at_level(logging.WARNING, logger="jobs.reaper"):
        run_periodic_checks()
    assert ran == ["ran"]
    assert "breaking failed: database is gone" in caplog.text


@pytest.mark.usefixtures("in_test_transaction")
def test_the_sweep_runs_the_reaper_and_the_purge(alice, redis_db, settings):
    settings.JOBS_RETENTION_DAYS = 30
    finished(alice, days_ago=31)
    lost = make_job(
        owner=alice, status=JobStatus.RUNNING, attempts=3, started_at=timezone.now() - timedelta(minutes=5)
    )
    run_periodic_checks()
    lost.refresh_from_db()
    assert lost.status == JobStatus.FAILED  # out of attempts, its worker gone: the reaper's work
    assert remaining() == {lost.pk}
