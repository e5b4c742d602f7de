"""``/metrics`` and its guard, the HTTP request count, and the workers' job metrics, in-process;
``METRICS_ENABLED`` off, in a process of its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from prometheus_client import REGISTRY

from jobs.models import JobStatus
from jobs.runtime import execute, recover_lost
from tests.conftest import make_job


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def client() -> Client:
    return Client()


def test_without_token_or_allowlist_metrics_do_not_exist(client, settings):
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_IPS = "", []
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 404


def test_a_token_guards_metrics(client, settings):
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_IPS = "s3cret-token", []
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Basic s3cret-token").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token-and-more").status_code == 403
    ok = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token")
    assert ok.status_code == 200
    assert ok["Content-Type"].startswith("text/plain")
    assert b"coucou_http_requests_total" in ok.content


def test_an_allowlist_admits_its_addresses_and_networks_only(client, settings):
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_IPS = "", ["10.0.0.0/8", "192.0.2.7", "::1"]
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.7").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.8").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403
    # A forwarded-for header is the client's word, not its address.
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.8", HTTP_X_FORWARDED_FOR="10.0.0.1").status_code == 403


def test_token_or_allowlist_either_admits(client, settings):
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_IPS = "tok", ["10.0.0.0/8"]
    assert client.get("/metrics", REMOTE_ADDR="10.0.0.1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.1", HTTP_AUTHORIZATION="Bearer tok").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.1").status_code == 403


def test_http_requests_are_counted_by_route_pattern_and_status(client, db, settings):
    settings.METRICS_TOKEN = "tok"
    job_route = {"method": "GET", "route": "/api/jobs/<job_id>", "status": "401"}
    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    refused = {"method": "GET", "route": "/metrics", "status": "403"}
    before = [sample("coucou_http_requests_total", **labels) for labels in (job_route, unmatched, refused)]

    client.get("/api/jobs/3f0c5b9e-0000-4000-8000-000000000000")
    client.get("/api/jobs/8a1d0c2e-0000-4000-8000-000000000000")
    client.get("/no/such/page/8a1d0c2e")
    client.get("/metrics")

    after = [sample("coucou_http_requests_total", **labels) for labels in (job_route, unmatched, refused)]
    assert [a - b for a, b in zip(after, before, strict=True)] == [2, 1, 1]
    # Never the raw path: a client cannot mint series.
    assert not any("8a1d0c2e" in str(metric.samples) for metric in REGISTRY.collect())


def test_an_unknown_method_is_other(client, db):
    labels = {"method": "other", "route": "/api/health", "status": "405"}
    before = sample("coucou_http_requests_total", **labels)
    assert client.generic("BREW", "/api/health").status_code == 405
    assert sample("coucou_http_requests_total", **labels) == before + 1


@pytest.mark.usefixtures("redis_db")
def test_jobs_are_counted_by_task_and_outcome_with_wait_and_run_time(alice: Any) -> None:
    def counts() -> list[float]:
        return [
            sample("coucou_jobs_total", task="demo.count", outcome="succeeded"),
            sample("coucou_jobs_total", task="demo.fail", outcome="failed"),
            sample("coucou_job_queue_wait_seconds_count", task="demo.count"),
            sample("coucou_job_run_seconds_count", task="demo.count"),
            sample("coucou_job_run_seconds_count", task="demo.fail"),
        ]

    before = counts()
    ok = make_job(owner=alice, task="demo.count", params={"n": 3, "interval_ms": 0})
    execute(str(ok.id), task_name="demo.count")
    failed = make_job(owner=alice, task="demo.fail", params={"message": "no"})
    execute(str(failed.id), task_name="demo.fail")
    assert [a - b for a, b in zip(counts(), before, strict=True)] == [1, 1, 1, 1, 1]


@pytest.mark.usefixtures("redis_db")
def test_a_job_recovered_from_a_dead_worker_is_counted_reaped_and_retried(alice: Any) -> None:
    row = make_job(owner=alice, task="demo.count", status=JobStatus.RUNNING, attempts=1)
    reaped = sample("coucou_jobs_reaped_total", task="demo.count")
    retried = sample("coucou_job_retries_total", task="demo.count", reason="worker_lost")
    recover_lost(row)
    assert sample("coucou_jobs_reaped_total", task="demo.count") == reaped + 1
    assert sample("coucou_job_retries_total", task="demo.count", reason="worker_lost") == retried + 1


@pytest.mark.usefixtures("redis_db")
def test_a_job_cancelled_while_its_worker_died_is_a_forced_cancel(alice: Any) -> None:
    from django.utils import timezone

    row = make_job(
        owner=alice, task="demo.sleep", params={"seconds": 1}, status=JobStatus.RUNNING, attempts=1,
        cancel_requested_at=timezone.now(),
    )  # fmt: skip
    forced = sample("coucou_job_forced_cancels_total", task="demo.sleep")
    cancelled = sample("coucou_jobs_total", task="demo.sleep", outcome="cancelled")
    recover_lost(row)
    assert sample("coucou_job_forced_cancels_total", task="demo.sleep") == forced + 1
    assert sample("coucou_jobs_total", task="demo.sleep", outcome="cancelled") == cancelled + 1


# --- METRICS_ENABLED off: read once at import, so each case runs in a fresh process ----------

_PROBE = """
import json
import django
django.setup()
from django.core.exceptions import MiddlewareNotUsed
from django.test import Client
from django.test.utils import setup_test_environment
from prometheus_client import REGISTRY
import config.metrics, jobs.metrics
from realtime import metrics

setup_test_environment()
metrics.frames_sent.inc()
metrics.OPEN["bearer"].inc()
metrics.publish_to_send.observe(0.002)
jobs.metrics.ended("demo.count", "succeeded")
scrape = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer tok")
try:
    config.metrics.RequestMetrics(lambda request: None)
    middleware = True
except MiddlewareNotUsed:
    middleware = False
print(json.dumps({
    "kinds": sorted({type(m).__name__ for m in (metrics.frames_sent, metrics.GAP_LIVE, jobs.metrics.jobs)}),
    "frames": REGISTRY.get_sample_value("coucou_ws_frames_sent_total"),
    "open": REGISTRY.get_sample_value("coucou_ws_open_sockets", {"auth": "bearer"}),
    "jobs": REGISTRY.get_sample_value("coucou_jobs_total", {"task": "demo.count", "outcome": "succeeded"}),
    "families": sorted(f.name for f in REGISTRY.collect() if f.name.startswith("coucou_")),
    "scrape": scrape.status_code,
    "middleware": middleware,
}))
"""


def _probe(enabled: str) -> dict[str, Any]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "METRICS_ENABLED": enabled}
    env["METRICS_TOKEN"] = "tok"  # a guard that would admit the scrape
    done = subprocess.run(
        [sys.executable, "-c", _PROBE],
        env=env, cwd=Path(__file__).resolve().parent.parent, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(json.loads(done.stdout.splitlines()[-1]))


def test_with_metrics_off_nothing_is_collected_and_metrics_do_not_exist() -> None:
    off = _probe("0")
    assert off["kinds"] == ["_Off"]
    assert off["frames"] is off["open"] is off["jobs"] is None
    assert off["families"] == []
    assert off["scrape"] == 404
    assert off["middleware"] is False


def test_the_probe_sees_metrics_when_they_are_on() -> None:
    on = _probe("1")
    assert on["kinds"] == ["Counter"]
    assert (on["frames"], on["open"], on["jobs"]) == (1.0, 1.0, 1.0)
    assert "coucou_http_requests" in on["families"]
    assert on["scrape"] == 200
    assert on["middleware"] is True
