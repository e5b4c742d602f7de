"""The workers' Prometheus metrics, served by each worker's main process (config/worker.py).

Written from the pool's children and the main process (whose sweep recovers lost jobs) into
``PROMETHEUS_MULTIPROC_DIR``, which the worker sets up before anything imports
prometheus_client. Every metric here has labels, so none writes a file before its first use:
the worker wipes that directory at start-up, before the first job. Labels are task names
(registered, so a closed set) and fixed words. A job is counted a few times per run, next to
a database write each time: ``.labels()`` per call is cheap enough here. With
``METRICS_ENABLED`` off they record nothing (realtime/metrics.py's ``collecting``).
"""

from __future__ import annotations

import prometheus_client

from realtime.metrics import collecting

Counter = collecting(prometheus_client.Counter)
Histogram = collecting(prometheus_client.Histogram)

WAIT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
RUN_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)

jobs = Counter(
    "coucou_jobs",
    "Jobs that ended, by task and outcome (succeeded, failed, cancelled).",
    ["task", "outcome"],
)
queue_wait = Histogram(
    "coucou_job_queue_wait_seconds",
    "From a job's creation to the start of its first attempt.",
    ["task"],
    buckets=WAIT_BUCKETS,
)
run_time = Histogram(
    "coucou_job_run_seconds",
    "How long each attempt of a job ran, whatever its outcome.",
    ["task"],
    buckets=RUN_BUCKETS,
)
retries = Counter(
    "coucou_job_retries",
    "Attempts queued again: after an exception the job's retry policy lists (error), or after "
    "its worker died (worker_lost).",
    ["task", "reason"],
)
reaped = Counter(
    "coucou_jobs_reaped",
    "Jobs recovered after their worker died (queued again, failed or cancelled).",
    ["task"],
)
forced_cancels = Counter(
    "coucou_job_forced_cancels",
    "Jobs cancelled by force: they ignored their cancellation past JOBS_CANCEL_GRACE_S, or "
    "their worker died after it was asked.",
    ["task"],
)
publish_failures = Counter(
    "coucou_job_publish_failures",
    "Job events that could not be published: a lifecycle event given up on (lifecycle), or a "
    "progress push, retried on the next tick (progress).",
    ["kind"],
)
long_waits = Counter(
    "coucou_job_long_waits",
    "Jobs that waited in the queue past their long-wait threshold (each counted once).",
    ["task"],
)
enqueue_failures = Counter(
    "coucou_job_enqueue_failures", "Jobs the broker could not take when they were submitted.", ["task"]
)


def ended(task: str, outcome: str) -> None:
    jobs.labels(task, outcome).inc()


def started(task: str, wait_s: float) -> None:
    queue_wait.labels(task).observe(max(0.0, wait_s))


def ran(task: str, seconds: float) -> None:
    run_time.labels(task).observe(seconds)


def retried(task: str, reason: str) -> None:
    retries.labels(task, reason).inc()


def recovered(task: str) -> None:
    reaped.labels(task).inc()


def forced_cancel(task: str) -> None:
    forced_cancels.labels(task).inc()


def publish_failed(kind: str) -> None:
    publish_failures.labels(kind).inc()


def waited_long(task: str) -> None:
    long_waits.labels(task).inc()


def enqueue_failed(task: str) -> None:
    enqueue_failures.labels(task).inc()
