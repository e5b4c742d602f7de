"""Metrics scraped from real processes: daphne's /metrics and the Celery worker's endpoint,
after real jobs over REST and real sockets."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.exceptions import ConnectionClosed

from devtools.redis_server import free_port
from tests.live.harness import Stack, frames_until, job_ended, recv_json, running_stack

pytestmark = pytest.mark.asyncio
TOKEN = "scrape-me-0123456789"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One daphne and one prefork worker (2 children) with metrics on, and a 1 s long-wait alert."""
    port = free_port()
    with running_stack(
        Path(tmp_path_factory.mktemp("metrics")),
        METRICS_TOKEN=TOKEN,
        METRICS_WORKER_PORT=str(port),
        JOBS_LONG_WAIT_S="1",
    ) as live:
        live.worker_metrics_port = port  # type: ignore[attr-defined]
        yield live


def web_url(stack: Stack) -> str:
    return f"{stack.base_url}/metrics"


def worker_url(stack: Stack) -> str:
    return f"http://127.0.0.1:{stack.worker_metrics_port}/metrics"  # type: ignore[attr-defined]


async def scrape(url: str) -> Samples:
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(url, headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def eventually(url: str, check: Callable[[Samples], bool], timeout: float = 10) -> Samples:
    """Scrape until ``check`` holds: a counter moves just after the frame that reports it."""
    deadline = time.monotonic() + timeout
    while True:
        samples = await scrape(url)
        if check(samples) or time.monotonic() > deadline:
            return samples
        await asyncio.sleep(0.1)


async def test_an_anonymous_or_wrong_scrape_is_refused(stack: Stack) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        for url in (web_url(stack), worker_url(stack)):
            assert (await client.get(url)).status_code == 403
            wrong = await client.get(url, headers={"Authorization": "Bearer not-the-token"})
            assert wrong.status_code == 403
            right = await client.get(url, headers={"Authorization": f"Bearer {TOKEN}"})
            assert right.status_code == 200
            assert right.headers["content-type"].startswith("text/plain")


async def test_jobs_move_the_workers_counters_and_histograms(stack: Stack) -> None:
    token = stack.token("metrics-jobs")
    before = await scrape(worker_url(stack))
    async with stack.ws(token) as ws, stack.http(token) as http:
        await recv_json(ws)
        ok = (await http.post("/api/coucou")).json()["id"]
        await frames_until(ws, job_ended(ok))
        failed = (
            await http.post("/api/jobs", json={"task": "demo.fail", "params": {"message": "no"}})
        ).json()
        await frames_until(ws, job_ended(failed["id"]))

    def moved(after: Samples) -> bool:
        return all(
            value(after, name, **labels) >= value(before, name, **labels) + 1
            for name, labels in [
                ("coucou_jobs_total", {"task": "coucou", "outcome": "succeeded"}),
                ("coucou_jobs_total", {"task": "demo.fail", "outcome": "failed"}),
                ("coucou_job_queue_wait_seconds_count", {"task": "coucou"}),
                ("coucou_job_queue_wait_seconds_count", {"task": "demo.fail"}),
                ("coucou_job_run_seconds_count", {"task": "coucou"}),
                ("coucou_job_run_seconds_count", {"task": "demo.fail"}),
            ]
        )

    after = await eventually(worker_url(stack), moved)
    assert moved(after), {k: v for k, v in after.items() if k[0].startswith("coucou_job")}
    # Sums of the 2 pool children's files: the histogram's +Inf bucket is its count.
    assert value(after, "coucou_job_queue_wait_seconds_bucket", task="coucou", le="+Inf") == value(
        after, "coucou_job_queue_wait_seconds_count", task="coucou"
    )
    assert value(after, "coucou_job_run_seconds_sum", task="coucou") > 0


async def test_sockets_frames_latency_and_http_requests_on_web(stack: Stack) -> None:
    token = stack.token("metrics-web")
    url = web_url(stack)
    # This module's stack: once the earlier tests' sockets have closed, none is open.
    before = await eventually(url, lambda s: value(s, "coucou_ws_open_sockets", auth="bearer") == 0)
    async with stack.ws(token) as ws, stack.http(token) as http:
        await recv_json(ws)
        opened = await eventually(
            url,
            lambda s: (
                value(s, "coucou_ws_open_sockets", auth="bearer")
                >= 1 + value(before, "coucou_ws_open_sockets", auth="bearer")
            ),
        )
        assert value(opened, "coucou_ws_open_sockets", auth="bearer") == 1 + value(
            before, "coucou_ws_open_sockets", auth="bearer"
        )
        job_id = (await http.post("/api/coucou")).json()["id"]
        frames = await frames_until(ws, job_ended(job_id))
        assert (await http.get(f"/api/jobs/{job_id}")).status_code == 200
        assert (await http.get("/no/such/page")).status_code == 404

    sent = len(frames)  # job.queued, job.started, coucou, job.succeeded

    def timed(samples: Samples) -> float:
        return value(samples, "coucou_ws_publish_to_send_seconds_count")

    def moved(after: Samples) -> bool:
        return (
            value(after, "coucou_ws_frames_sent_total")
            >= value(before, "coucou_ws_frames_sent_total") + 1 + sent
            and timed(after) >= timed(before) + 1
            and value(after, "coucou_ws_open_sockets", auth="bearer")
            == value(before, "coucou_ws_open_sockets", auth="bearer")
        )

    after = await eventually(url, moved)
    assert moved(after), {k: v for k, v in after.items() if k[0].startswith("coucou_ws")}
    # Each frame sent by the live path is timed; one the 1 s sweep sent first (a busy
    # machine) is not: its live copy is dropped as a duplicate.
    assert timed(after) <= timed(before) + sent
    # Published and sent on one machine: well under a few seconds each.
    assert value(after, "coucou_ws_publish_to_send_seconds_bucket", le="2.5") == timed(after)
    for route, method, status in [
        ("/api/coucou", "POST", "202"),
        ("/api/jobs/<job_id>", "GET", "200"),
        ("unmatched", "GET", "404"),
    ]:
        labels = {"route": route, "method": method, "status": status}
        assert (
            value(after, "coucou_http_requests_total", **labels)
            == value(before, "coucou_http_requests_total", **labels) + 1
        ), labels


async def test_a_bad_token_is_a_handshake_refused_with_4401(stack: Stack) -> None:
    before = await scrape(web_url(stack))
    async with stack.ws("not-a-token") as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await recv_json(ws)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    after = await eventually(
        web_url(stack),
        lambda s: (
            value(s, "coucou_ws_handshakes_refused_total", code="4401")
            > value(before, "coucou_ws_handshakes_refused_total", code="4401")
        ),
    )
    assert value(after, "coucou_ws_handshakes_refused_total", code="4401") == 1 + value(
        before, "coucou_ws_handshakes_refused_total", code="4401"
    )


async def test_a_job_that_waited_past_the_threshold_is_alerted_once(stack: Stack) -> None:
    token = stack.token("metrics-waits")
    before = await scrape(worker_url(stack))
    async with stack.ws(token) as ws, stack.http(token) as http:
        await recv_json(ws)
        # Both pool children busy for 2 s: the coucou behind them waits past JOBS_LONG_WAIT_S=1.
        sleepers = [
            (await http.post("/api/jobs", json={"task": "demo.sleep", "params": {"seconds": 2}})).json()["id"]
            for _ in range(2)
        ]
        await asyncio.sleep(0.3)
        late = (await http.post("/api/coucou")).json()["id"]
        running = {*sleepers, late}

        def all_ended(frame: dict[str, Any]) -> bool:
            if job_ended(frame.get("job", ""))(frame):
                running.discard(frame["job"])
            return not running

        await frames_until(ws, all_ended)

    after = await eventually(
        worker_url(stack),
        lambda s: (
            value(s, "coucou_job_long_waits_total", task="coucou")
            > value(before, "coucou_job_long_waits_total", task="coucou")
        ),
    )
    assert value(after, "coucou_job_long_waits_total", task="coucou") == 1 + value(
        before, "coucou_job_long_waits_total", task="coucou"
    )
    log = (stack.tmp / "worker-w1.log").read_text().splitlines()
    # Seen either by the workers' sweep while it still waits, or by the claim that starts it.
    alerts = [line for line in log if f"long wait: job {late} (coucou) " in line]
    assert len(alerts) == 1 and "WARNING/" in alerts[0], alerts
    assert " has waited " in alerts[0] or " started after " in alerts[0], alerts
    assert not [line for line in log if "long wait: job" in line and any(s in line for s in sleepers)]
