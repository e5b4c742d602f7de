"""Long-wait alerts: a WARNING line, coucou_job_long_waits_total and long_wait_detected, once per job."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from prometheus_client import REGISTRY

from jobs import job, long_wait_detected
from jobs.alerts import check_claimed, detect_long_waits
from jobs.models import Job, JobStatus
from jobs.registry import get_spec
from jobs.runtime import execute
from tests.conftest import make_job

# Committed for real: a transition's event leaves on commit (jobs/lifecycle.py), as in a worker.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("redis_db")]


@pytest.fixture
def received() -> Iterator[list[dict[str, Any]]]:
    calls: list[dict[str, Any]] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        calls.append({"sender": sender, **kwargs})

    long_wait_detected.connect(receiver)
    yield calls
    long_wait_detected.disconnect(receiver)


def alerts_of(task: str) -> float:
    return REGISTRY.get_sample_value("coucou_job_long_waits_total", {"task": task}) or 0.0


def waiting(owner: Any, *, seconds: float, task: str = "coucou", **fields: Any) -> Job:
    created = timezone.now() - timedelta(seconds=seconds)
    return make_job(owner=owner, task=task, params={}, created_at=created, **fields)


def test_a_job_started_past_the_threshold_is_alerted_once(alice, received, caplog, settings):
    settings.JOBS_LONG_WAIT_S = 60
    row = waiting(alice, seconds=90)
    before = alerts_of("coucou")
    with caplog.at_level(logging.WARNING, logger="jobs.alerts"):
        execute(str(row.id), task_name="coucou")

    row.refresh_from_db()
    assert row.status == JobStatus.SUCCEEDED
    [record] = [r for r in caplog.records if r.name == "jobs.alerts"]
    assert record.levelno == logging.WARNING
    message = record.getMessage()
    assert str(row.id) in message and "(coucou)" in message and "threshold of 60.0s" in message
    assert "started after 90." in message
    [call] = received
    assert call["sender"] is Job
    assert (call["job_id"], call["task"], call["owner_id"], call["threshold_s"], call["queued"]) == (
        str(row.id),
        "coucou",
        alice.pk,
        60.0,
        False,
    )
    assert 90 <= call["wait_s"] < 100
    assert alerts_of("coucou") == before + 1
    # Another delivery's claim, or a sweep, does not alert it again.
    assert not check_claimed(row, get_spec("coucou"), 95.0)
    assert detect_long_waits() == 0
    assert len(received) == 1 and alerts_of("coucou") == before + 1


def test_a_job_started_within_the_threshold_is_not_alerted(alice, received, settings):
    settings.JOBS_LONG_WAIT_S = 60
    row = waiting(alice, seconds=30)
    execute(str(row.id), task_name="coucou")
    assert received == []


def test_the_sweep_alerts_each_job_still_queued_past_its_threshold_once(alice, received, caplog, settings):
    settings.JOBS_LONG_WAIT_S = 60
    late = waiting(alice, seconds=120)
    waiting(alice, seconds=10)  # not late yet
    waiting(alice, seconds=300, attempts=1)  # a retry waiting out its backoff: it started once
    waiting(alice, seconds=300, status=JobStatus.SUCCEEDED, finished_at=timezone.now())
    before = alerts_of("coucou")

    with caplog.at_level(logging.WARNING, logger="jobs.alerts"):
        assert detect_long_waits() == 1
    assert [r.levelno for r in caplog.records if r.name == "jobs.alerts"] == [logging.WARNING]
    assert f"job {late.id} (coucou) has waited 120." in caplog.records[-1].getMessage()
    [call] = received
    assert (call["job_id"], call["queued"], call["threshold_s"]) == (str(late.id), True, 60.0)
    assert alerts_of("coucou") == before + 1

    assert detect_long_waits() == 0  # already told
    execute(str(late.id), task_name="coucou")  # and its start is not a second alert
    assert len(received) == 1 and alerts_of("coucou") == before + 1


@pytest.mark.usefixtures("scratch_registry")
def test_a_tasks_own_threshold_overrides_the_global_one(alice, received, settings):
    settings.JOBS_LONG_WAIT_S = 0  # global alerts off

    @job("alerts.urgent", long_wait_s=5)
    def urgent(ctx: Any) -> None:
        pass

    @job("alerts.whenever", long_wait_s=0)
    def whenever(ctx: Any) -> None:
        pass

    urgent_row = waiting(alice, seconds=10, task="alerts.urgent")
    waiting(alice, seconds=3, task="alerts.urgent")
    waiting(alice, seconds=10_000, task="alerts.whenever")
    waiting(alice, seconds=10_000, task="coucou")

    assert detect_long_waits() == 1
    assert [(c["job_id"], c["threshold_s"]) for c in received] == [(str(urgent_row.id), 5.0)]


def test_no_threshold_anywhere_means_no_alert(alice, received, settings):
    settings.JOBS_LONG_WAIT_S = 0
    row = waiting(alice, seconds=10_000)
    assert detect_long_waits() == 0
    execute(str(row.id), task_name="coucou")
    assert received == []


def test_a_failing_receiver_is_logged_and_the_job_still_runs(alice, caplog, settings):
    settings.JOBS_LONG_WAIT_S = 1

    def broken(sender: Any, **kwargs: Any) -> None:
        raise RuntimeError("the mail server is down")

    long_wait_detected.connect(broken)
    try:
        row = waiting(alice, seconds=5)
        execute(str(row.id), task_name="coucou")
    finally:
        long_wait_detected.disconnect(broken)
    row.refresh_from_db()
    assert row.status == JobStatus.SUCCEEDED
    assert any(
        r.levelno == logging.ERROR and "the mail server is down" in r.getMessage() for r in caplog.records
    )


def test_an_alert_without_redis_is_skipped_and_the_job_runs(alice, received, monkeypatch, settings):
    settings.JOBS_LONG_WAIT_S = 1
    from jobs import alerts

    class Down:
        def set(self, *args: Any, **kwargs: Any) -> None:
            raise ConnectionError("no Redis")

    row = waiting(alice, seconds=5)
    with monkeypatch.context() as patched:
        patched.setattr(alerts, "sync_client", lambda: Down())
        assert not check_claimed(row, get_spec("coucou"), 5.0)
    assert received == []
