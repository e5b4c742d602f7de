"""The queue's depth, read from the Job rows at each scrape of a web process's ``/metrics``.

Counters in the workers tell what happened; these gauges tell what is waiting now, which no
worker sees when none is running: jobs queued and running by task, and how long the oldest
queued one has waited. Every web process reports the same database-wide values, so a
dashboard takes ``max``, not ``sum``, across them. One grouped query on the unfinished jobs
(the ``finished_at`` index: a finished job always has one), per scrape.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from django.db.models import Count, Min
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from jobs.models import Job, JobStatus

logger = logging.getLogger(__name__)


def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily]:
    """The three gauges, empty: queued and running by task, and the oldest queued one's age."""
    return (
        GaugeMetricFamily(
            "coucou_jobs_queued", "Jobs queued now (not started, or retrying).", labels=["task"]
        ),
        GaugeMetricFamily("coucou_jobs_running", "Jobs running now.", labels=["task"]),
        GaugeMetricFamily(
            "coucou_job_oldest_queued_seconds",
            "How long the oldest job still queued has existed, by task.",
            labels=["task"],
        ),
    )


class JobBacklog(Collector):
    def collect(self) -> Iterator[GaugeMetricFamily]:
        waiting, running, oldest = _families()
        try:
            rows = list(
                Job.objects.filter(finished_at__isnull=True, status__in=(JobStatus.QUEUED, JobStatus.RUNNING))
                .values("task", "status")
                .annotate(n=Count("pk"), first=Min("created_at"))
                .order_by()
            )
        except Exception as exc:  # noqa: BLE001 - a scrape answers without them rather than fail
            logger.warning("cannot read the job backlog for /metrics: %s", exc)
            return
        now = timezone.now()
        for row in rows:
            if row["status"] == JobStatus.QUEUED:
                waiting.add_metric([row["task"]], row["n"])
                oldest.add_metric([row["task"]], max(0.0, (now - row["first"]).total_seconds()))
            else:
                running.add_metric([row["task"]], row["n"])
        yield from (waiting, running, oldest)

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield from _families()  # without a query: registering must not touch the database
