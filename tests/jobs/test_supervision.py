"""Heartbeats and cancel flags in Redis, driven one ``Supervisor.tick`` at a time."""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from jobs import conf
from jobs.exceptions import JobCancelled
from jobs.supervision import (
    HOST,
    Supervisor,
    cancel_key,
    heartbeat_key,
    previous_attempt_alive,
    request_cancel,
)

JOB, OTHER = "job-1", "job-2"
NO_SUCH_PID = 2**22 + 1  # above Linux's largest pid_max


def jobs_settings(**changes: Any) -> conf.JobsSettings:
    return dataclasses.replace(conf.get(), **changes)


class HardStops:
    """A ``hard_stop`` that records each call."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1


class JobThread(threading.Thread):
    """A job body that never checks for cancellation, watched from its own thread."""

    def __init__(self, supervisor: Supervisor, job_id: str, hard_stop: HardStops) -> None:
        super().__init__(daemon=True)
        self.supervisor, self.job_id, self.hard_stop = supervisor, job_id, hard_stop
        self.watching, self.done = threading.Event(), threading.Event()
        self.interrupted = False

    def run(self) -> None:
        self.supervisor.watch(self.job_id, hard_stop=self.hard_stop)
        self.watching.set()
        try:
            while not self.done.wait(0.005):
                pass
        except JobCancelled:
            self.interrupted = True


@pytest.fixture
def watcher(redis_db: Any, settings: Any) -> Iterator[Supervisor]:
    """A Supervisor whose own thread stays asleep: only the test's ticks count."""
    settings.JOBS_SUPERVISE_INTERVAL_S = 3600
    supervisor = Supervisor()
    yield supervisor
    for job_id in list(supervisor.watched):
        supervisor.release(job_id)


def test_watch_writes_a_heartbeat_naming_this_process(watcher, redis_db, settings):
    settings.JOBS_HEARTBEAT_TTL_S = 7
    watcher.watch(JOB, hard_stop=HardStops())
    assert redis_db.get(heartbeat_key(JOB)) == f"{HOST}:{os.getpid()}".encode()
    assert 6000 < redis_db.pttl(heartbeat_key(JOB)) <= 7000


def test_each_tick_renews_the_heartbeat(watcher, redis_db):
    watcher.watch(JOB, hard_stop=HardStops())
    redis_db.delete(heartbeat_key(JOB))
    watcher.tick(jobs_settings(heartbeat_ttl_s=30))
    assert redis_db.get(heartbeat_key(JOB)) == f"{HOST}:{os.getpid()}".encode()
    assert 29_000 < redis_db.pttl(heartbeat_key(JOB)) <= 30_000


def test_release_clears_the_heartbeat_and_later_ticks_leave_it_alone(watcher, redis_db):
    watcher.watch(JOB, hard_stop=HardStops())
    watcher.release(JOB)
    watcher.tick(jobs_settings())
    assert redis_db.exists(heartbeat_key(JOB)) == 0


def test_request_cancel_leaves_a_flag_for_a_week(redis_db):
    request_cancel(JOB)
    assert redis_db.exists(cancel_key(JOB)) == 1
    assert 7 * 24 * 3600 - 5 < redis_db.ttl(cancel_key(JOB)) <= 7 * 24 * 3600


def test_a_cancel_flag_is_seen_at_the_next_tick(watcher):
    stops = HardStops()
    watcher.watch(JOB, hard_stop=stops)
    watcher.watch(OTHER, hard_stop=stops)
    request_cancel(JOB)
    assert not watcher.is_cancelled(JOB)  # not before a tick
    watcher.tick(jobs_settings())
    assert watcher.is_cancelled(JOB)
    assert not watcher.is_cancelled(OTHER)
    assert stops.calls == 0


def test_a_flag_set_before_the_job_started_is_seen_too(watcher):
    request_cancel(JOB)
    watcher.watch(JOB, hard_stop=HardStops())
    watcher.tick(jobs_settings())
    assert watcher.is_cancelled(JOB)


def test_no_hard_stop_within_the_grace_period(watcher):
    stops = HardStops()
    watcher.watch(JOB, hard_stop=stops)
    request_cancel(JOB)
    for _ in range(5):
        watcher.tick(jobs_settings(cancel_grace_s=3600))
    assert stops.calls == 0
    assert watcher.is_cancelled(JOB)


def test_a_job_still_running_after_the_grace_period_is_stopped_once(watcher):
    stops = HardStops()
    body = JobThread(watcher, JOB, stops)
    body.start()
    assert body.watching.wait(2)
    request_cancel(JOB)
    watcher.tick(jobs_settings(cancel_grace_s=0))  # first sight of the flag: the grace starts
    assert stops.calls == 0
    for _ in range(3):
        watcher.tick(jobs_settings(cancel_grace_s=0))
    assert stops.calls == 1
    body.join(2)
    body.done.set()
    assert body.interrupted, "JobCancelled was not raised in the job's thread"


def test_a_released_job_is_not_stopped(watcher):
    stops = HardStops()
    watcher.watch(JOB, hard_stop=stops)
    request_cancel(JOB)
    watcher.tick(jobs_settings(cancel_grace_s=0))
    watcher.release(JOB)  # it ended on its own
    watcher.tick(jobs_settings(cancel_grace_s=0))
    assert stops.calls == 0
    assert not watcher.is_cancelled(JOB)


@pytest.mark.parametrize(
    ("owner", "alive"),
    [
        (None, False),
        (f"{HOST}:{os.getpid()}", True),
        (f"{HOST}:{NO_SUCH_PID}", False),  # this machine, and that process is gone
        (f"elsewhere:{NO_SUCH_PID}", True),  # another machine: trust its heartbeat
        (f"{HOST}:not-a-pid", True),
    ],
)
def test_previous_attempt_alive(redis_db, owner, alive):
    if owner is not None:
        redis_db.set(heartbeat_key(JOB), owner, ex=60)
    assert previous_attempt_alive(JOB) is alive
