"""Every event, once, in order: across drops, process deaths, Redis restarts and overflow."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from tests.conftest import ANY_EPOCH
from tests.live.harness import Stack, frames_until, job_ended, recv_json, running_stack, wait_until

pytestmark = pytest.mark.asyncio


def assert_every_event_once(frames: list[dict[str, Any]], first: int, last: int) -> None:
    seqs = [f["seq"] for f in frames if "ts" in f]
    assert seqs == list(range(first, last + 1)), f"holes or duplicates in {seqs[:5]}…{seqs[-5:]}"


async def test_drop_mid_job_then_resume_gives_every_event_once(stack: Stack) -> None:
    token = stack.token("drop")
    async with stack.http(token) as http:
        async with stack.ws(token) as ws:
            hello = await recv_json(ws)
            job = await http.post(
                "/api/jobs", json={"task": "demo.count", "params": {"n": 60, "interval_ms": 25}}
            )
            job_id = job.json()["id"]
            before = await frames_until(ws, lambda f: f["type"] == "job.progress")
        await asyncio.sleep(0.5)  # the job goes on while nobody listens
        async with stack.ws(token, after=before[-1]["seq"]) as ws:
            assert (await recv_json(ws))["type"] == "hello"
            after = await frames_until(ws, job_ended(job_id))
    frames = before + after
    assert_every_event_once(frames, hello["seq"] + 1, frames[-1]["seq"])
    assert frames[-1]["type"] == "job.succeeded"


async def test_web_process_death_then_resume_on_another(stack: Stack) -> None:
    token = stack.token("phoenix")
    doomed, doomed_port = stack.start_web()
    async with stack.http(token) as http:
        async with stack.ws(token, port=doomed_port) as ws:
            hello = await recv_json(ws)
            job = await http.post(
                "/api/jobs", json={"task": "demo.count", "params": {"n": 60, "interval_ms": 25}}
            )
            job_id = job.json()["id"]
            before = await frames_until(ws, lambda f: f["type"] == "job.progress")
            doomed.kill()  # SIGKILL: no goodbye from the server
            with pytest.raises(ConnectionClosed):
                while True:
                    before.append(await recv_json(ws, timeout=5))
        async with stack.ws(token, after=before[-1]["seq"]) as ws:  # the surviving process
            await recv_json(ws)
            after = await frames_until(ws, job_ended(job_id))
    assert_every_event_once(before + after, hello["seq"] + 1, after[-1]["seq"])


async def test_overflowing_the_live_path_loses_nothing(stack: Stack) -> None:
    """A web process that stalls (GC, CPU starvation) while a burst is published overflows its
    Redis subscriber buffer; Redis drops the subscriber and those live frames are gone. The
    consumer's gap repair and the sweep must still deliver every seq, once, in order."""
    token = stack.token("flood")
    stalled, port = stack.start_web()
    client = stack.redis_client()
    client.config_set("client-output-buffer-limit", "pubsub 256kb 128kb 1")
    n = 5000
    try:
        async with stack.ws(token, port=port) as ws:
            hello = await recv_json(ws)
            stalled.signal(signal.SIGSTOP)
            # 20 MB for a stopped subscriber: more than the kernel's socket buffers hold, so
            # Redis's output buffer for it passes the limit and Redis drops it.
            assert stack.burst("flood", n, size=4000).wait(120) == 0
            stalled.signal(signal.SIGCONT)
            last = hello["seq"] + n
            frames = await frames_until(ws, lambda f: f.get("seq") == last, timeout=120)
    finally:
        stalled.signal(signal.SIGCONT)
        client.config_set("client-output-buffer-limit", "pubsub 32mb 8mb 60")
    assert_every_event_once(frames, hello["seq"] + 1, last)
    wait_until(
        lambda: "Connection closed by server" in (stack.tmp / f"web-{port}.log").read_text(),
        timeout=10,
        what="the burst to overflow the live path (Redis dropping the subscriber)",
    )


async def test_redis_restart_mid_job_resumes_the_flow_within_5s(stack: Stack) -> None:
    token = stack.token("phoenix-redis")
    async with stack.ws(token) as ws, stack.http(token) as http:
        hello = await recv_json(ws)
        job = await http.post(
            "/api/jobs", json={"task": "demo.count", "params": {"n": 80, "interval_ms": 50}}
        )
        job_id = job.json()["id"]
        frames = await frames_until(ws, lambda f: f["type"] == "job.progress")
        stack.redis.stop()
        await asyncio.sleep(1.5)
        stack.redis.start()
        restarted = time.monotonic()
        frames.append(await recv_json(ws, timeout=10))
        first_after_restart = time.monotonic() - restarted
        frames += await frames_until(ws, job_ended(job_id), timeout=30)
    assert first_after_restart < 5, f"events flowed again only after {first_after_restart:.1f}s"
    assert_every_event_once(frames, hello["seq"] + 1, frames[-1]["seq"])
    assert frames[-1]["type"] == "job.succeeded"


async def test_rest_catch_up_returns_exactly_the_callers_events_after_seq(stack: Stack) -> None:
    alice, bob = stack.token("rest-alice"), stack.token("rest-bob")
    async with stack.ws(alice) as ws, stack.http(alice) as a, stack.http(bob) as b:
        hello = await recv_json(ws)
        job_id = (await a.post("/api/coucou")).json()["id"]
        live = await frames_until(ws, job_ended(job_id))
        caught_up = (await a.get(f"/api/events?after={hello['seq'] + 1}")).json()
        limited = (await a.get(f"/api/events?after={hello['seq']}&limit=2")).json()
        bobs = (await b.get("/api/events?after=0")).json()
        bad = await a.get("/api/events?after=-1")
    assert caught_up["events"] == live[1:]
    assert caught_up["latest"] == live[-1]["seq"] and caught_up["resync"] is False
    assert limited["events"] == live[:2]
    assert (bobs["events"], bobs["latest"], bobs["resync"]) == ([], 0, False)
    assert bad.status_code == 422


async def test_socket_that_stops_reading_is_closed_4008_and_resumes_without_loss(stack: Stack) -> None:
    token = stack.token("sloth")
    n = 10_000
    web_log = stack.tmp / f"web-{stack.port}.log"
    async with stack.ws(token) as ws:
        hello = await recv_json(ws)
        ws.transport.pause_reading()  # stop reading: the kernel buffers fill, then daphne's
        burst = stack.burst("sloth", n, size=4000)  # 40 MB for a client that reads nothing
        # Read again only once the server has judged this socket a slow reader: past the
        # 8 MiB hard limit, or with nothing drained for the 10 s grace period.
        await asyncio.to_thread(
            wait_until, lambda: "closing slow reader" in web_log.read_text(), timeout=60, what="the 4008"
        )
        ws.transport.resume_reading()
        frames = []
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                frames.append(await recv_json(ws, timeout=20))
    # A client that does not read cannot read the close frame either: the server sends 4008,
    # then drops the connection when the close handshake times out. Either is what it sees.
    assert closed.value.rcvd is None or closed.value.rcvd.code == 4008
    assert len(frames) < n, "the server should have stopped sending to the slow socket"
    assert burst.wait(120) == 0
    resume_from = frames[-1]["seq"] if frames else hello["seq"]
    async with stack.ws(token, after=resume_from) as ws:
        await recv_json(ws)
        frames += await frames_until(ws, lambda f: f.get("seq") == hello["seq"] + n, timeout=90)
    assert_every_event_once(frames, hello["seq"] + 1, hello["seq"] + n)


@pytest.fixture(scope="module")
def short_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A stack that keeps only ~100 events per user."""
    with running_stack(
        Path(tmp_path_factory.mktemp("short")), workers=(), REALTIME_STREAM_MAXLEN="100"
    ) as live:
        yield live


async def test_asking_for_events_past_retention_gets_resync_then_the_rest(short_stack: Stack) -> None:
    token = short_stack.token("forgetful")
    assert short_stack.burst("forgetful", 1000).wait(60) == 0
    async with short_stack.ws(token, after=1) as ws:
        hello = await recv_json(ws)
        resync = await recv_json(ws)
        frames = await frames_until(ws, lambda f: f.get("seq") == 1000)
    assert hello == {"type": "hello", "seq": 1000, "epoch": ANY_EPOCH}
    assert resync["type"] == "resync" and resync["after"] == 1
    assert 100 <= len(frames) < 1000
    assert_every_event_once(frames, frames[0]["seq"], 1000)
    async with short_stack.http(token) as http:
        page = (await http.get("/api/events?after=1&limit=10")).json()
    assert page["resync"] is True and page["events"][0]["seq"] == frames[0]["seq"]
