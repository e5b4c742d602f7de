"""Celery over RabbitMQ: a real daphne and worker with CELERY_BROKER_URL=amqp://, end to end.

Needs a RabbitMQ server: COUCOU_TEST_AMQP_URL names it (.ci/run sets it when one answers
on 127.0.0.1:5672). Each run uses a queue of its own, deleted at the end, so that runs
sharing the server do not take each other's jobs.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from kombu import Connection

from tests.live.harness import Stack, frames_until, job_ended, recv_json, running_stack

AMQP_URL = os.environ.get("COUCOU_TEST_AMQP_URL", "")

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.skipif(
        not AMQP_URL,
        reason="COUCOU_TEST_AMQP_URL is not set: no RabbitMQ to test Celery over AMQP against "
        "(e.g. COUCOU_TEST_AMQP_URL=amqp://guest:guest@127.0.0.1:5672//)",
    ),
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    queue = f"coucou-test-{uuid.uuid4().hex[:12]}"
    tmp = Path(tmp_path_factory.mktemp("amqp"))
    try:
        with running_stack(tmp, CELERY_BROKER_URL=AMQP_URL, CELERY_TASK_DEFAULT_QUEUE=queue) as live:
            yield live
    finally:
        with Connection(AMQP_URL, connect_timeout=5) as connection:
            connection.default_channel.queue_delete(queue)


async def test_jobs_run_over_rabbitmq_and_their_frames_arrive(stack: Stack) -> None:
    token = stack.token("rabbit")
    async with stack.ws(token) as ws, stack.http(token) as http:
        hello = await recv_json(ws)
        coucou = (await http.post("/api/coucou")).json()
        greeting = await frames_until(ws, job_ended(coucou["id"]))
        count = await http.post(
            "/api/jobs", json={"task": "demo.count", "params": {"n": 40, "interval_ms": 5}}
        )
        assert count.status_code == 202, count.text
        counted = await frames_until(ws, job_ended(count.json()["id"]))
        failing = (
            await http.post("/api/jobs", json={"task": "demo.fail", "params": {"message": "amqp"}})
        ).json()
        failed = await frames_until(ws, job_ended(failing["id"]))
        health = await http.get("/api/health")
        stored = (await http.get(f"/api/jobs/{count.json()['id']}")).json()

    assert [f["type"] for f in greeting] == ["job.queued", "job.started", "coucou", "job.succeeded"]
    assert greeting[2]["data"] == {"message": "coucou rabbit"}
    assert counted[-1]["type"] == "job.succeeded" and counted[-1]["data"]["result"] == {"counted": 40}
    assert any(f["type"] == "job.progress" for f in counted)
    assert failed[-1]["type"] == "job.failed" and failed[-1]["data"]["error"]["message"] == "amqp"
    frames = greeting + counted + failed
    assert [f["seq"] for f in frames] == list(range(hello["seq"] + 1, hello["seq"] + 1 + len(frames)))
    assert stored["status"] == "succeeded" and stored["attempts"] == 1
    assert health.json() == {"status": "ok", "db": True, "redis": True, "broker": True}
    # The broker really was RabbitMQ: Redis holds no Celery key.
    keys = {k.decode() for k in redis.Redis.from_url(stack.redis.url).keys("*")}
    assert not {k for k in keys if k.startswith(("_kombu", "celery", "unacked"))}, keys
