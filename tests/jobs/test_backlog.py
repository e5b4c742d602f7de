"""The queue's depth on /metrics, from the Job rows: queued and running by task, and the oldest wait."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from jobs.models import JobStatus
from tests.conftest import make_job

TOKEN = "backlog-scrape-token"


def scrape(settings: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    settings.METRICS_TOKEN = TOKEN
    response = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
        if sample.name.startswith(("coucou_jobs_queued", "coucou_jobs_running", "coucou_job_oldest"))
    }


def test_the_backlog_counts_unfinished_jobs_by_task_and_ages_the_oldest(
    alice: Any, bob: Any, settings: Any
) -> None:
    now = timezone.now()
    make_job(owner=alice, task="demo.count", created_at=now - timedelta(seconds=90))
    make_job(owner=bob, task="demo.count", created_at=now - timedelta(seconds=5))
    make_job(owner=bob, task="coucou", status=JobStatus.QUEUED, attempts=1)  # a retry waits too
    make_job(owner=alice, task="demo.sleep", status=JobStatus.RUNNING, started_at=now)
    for status in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED):
        make_job(owner=alice, task="demo.count", status=status, finished_at=now)
    samples = scrape(settings)
    oldest = samples.pop(("coucou_job_oldest_queued_seconds", (("task", "demo.count"),)))
    assert 90 <= oldest < 120
    assert samples.pop(("coucou_job_oldest_queued_seconds", (("task", "coucou"),))) < 30
    assert samples == {
        ("coucou_jobs_queued", (("task", "demo.count"),)): 2,
        ("coucou_jobs_queued", (("task", "coucou"),)): 1,
        ("coucou_jobs_running", (("task", "demo.sleep"),)): 1,
    }


@pytest.mark.django_db
def test_an_empty_queue_has_no_series(settings: Any) -> None:
    assert scrape(settings) == {}
