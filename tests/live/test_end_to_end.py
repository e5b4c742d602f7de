"""The whole path on real processes: REST → Celery worker → Redis → daphne → WebSocket."""

from __future__ import annotations

import asyncio
from http import HTTPStatus
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from bench import rawws
from tests.live.harness import Stack, frames_until, job_ended, recv_json

pytestmark = pytest.mark.asyncio


async def test_coucou_greeting_reaches_its_caller(stack: Stack) -> None:
    token = stack.token("camille")
    async with stack.ws(token) as ws, stack.http(token) as http:
        hello = await recv_json(ws)
        assert hello["type"] == "hello"
        response = await http.post("/api/coucou")
        assert response.status_code == 202
        job = response.json()
        frames = await frames_until(ws, job_ended(job["id"]))

    greeting = [f for f in frames if f["type"] == "coucou"]
    assert [g["data"] for g in greeting] == [{"message": "coucou camille"}]
    assert greeting[0]["job"] == job["id"]
    assert [f["type"] for f in frames] == ["job.queued", "job.started", "coucou", "job.succeeded"]
    assert [f["seq"] for f in frames] == list(range(hello["seq"] + 1, hello["seq"] + 5))


async def test_demo_count_reports_contiguous_progress_and_its_result(stack: Stack) -> None:
    token = stack.token("dominique")
    async with stack.ws(token) as ws, stack.http(token) as http:
        hello = await recv_json(ws)
        response = await http.post(
            "/api/jobs", json={"task": "demo.count", "params": {"n": 200, "interval_ms": 2}}
        )
        assert response.status_code == 202, response.text
        job_id = response.json()["id"]
        frames = await frames_until(ws, job_ended(job_id))
        stored = (await http.get(f"/api/jobs/{job_id}")).json()

    assert [f["seq"] for f in frames] == list(range(hello["seq"] + 1, hello["seq"] + 1 + len(frames)))
    assert all(f["job"] == job_id for f in frames)
    progress = [f["data"] for f in frames if f["type"] == "job.progress"]
    assert len(progress) >= 2, "a 400 ms job should report progress more than once"
    assert [p["current"] for p in progress] == sorted(p["current"] for p in progress)
    assert progress[-1]["percent"] == 100.0 and progress[-1]["current"] == 200
    assert frames[-1]["type"] == "job.succeeded"
    assert frames[-1]["data"]["result"] == {"counted": 200}
    assert stored["status"] == "succeeded" and stored["result"] == {"counted": 200}
    assert stored["progress"]["percent"] == 100.0 and stored["attempts"] == 1


async def test_demo_fail_ends_failed_with_its_message(stack: Stack) -> None:
    token = stack.token("eliott")
    async with stack.ws(token) as ws, stack.http(token) as http:
        await recv_json(ws)
        response = await http.post("/api/jobs", json={"task": "demo.fail", "params": {"message": "no luck"}})
        job_id = response.json()["id"]
        frames = await frames_until(ws, job_ended(job_id))
        stored = (await http.get(f"/api/jobs/{job_id}")).json()

    assert frames[-1]["type"] == "job.failed"
    assert frames[-1]["data"]["error"]["message"] == "no luck"
    assert stored["status"] == "failed"
    assert stored["error"]["message"] == "no luck"


async def test_a_user_sees_none_of_another_users_events_or_jobs(stack: Stack) -> None:
    alice, bob = stack.token("alice"), stack.token("bob")
    async with (
        stack.ws(alice) as alice_ws,
        stack.ws(bob) as bob_ws,
        stack.http(alice) as a,
        stack.http(bob) as b,
    ):
        await recv_json(alice_ws)
        await recv_json(bob_ws)
        job_id = (await a.post("/api/jobs", json={"task": "demo.count", "params": {"n": 20}})).json()["id"]
        await frames_until(alice_ws, job_ended(job_id))
        # Alice's job is over; Bob's socket got nothing of it, even a moment later.
        with pytest.raises(asyncio.TimeoutError):
            await recv_json(bob_ws, timeout=0.5)
        assert (await b.get(f"/api/jobs/{job_id}")).status_code == 404
        assert (await b.get("/api/jobs")).json()["count"] == 0
        assert (await a.get(f"/api/jobs/{job_id}")).status_code == 200


async def test_no_credentials_means_401_and_bad_ones_a_4401_close(stack: Stack) -> None:
    async with stack.http() as anonymous:
        assert (await anonymous.get("/api/jobs")).status_code == 401
        assert (await anonymous.post("/api/coucou")).status_code == 401
    async with stack.http("cou_not-a-real-token") as forged:
        assert (await forged.get("/api/jobs")).status_code == 401
    async with stack.ws("cou_not-a-real-token") as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await recv_json(ws)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    # No credentials at all: the liveblog's namespace is public, so the socket may read public
    # channels and nothing else (tests/live/test_channels_live.py; 4401 without one).
    async with stack.ws() as ws:
        assert await recv_json(ws) == {"type": "hello", "seq": None, "epoch": None}


async def test_unknown_task_and_bad_params_are_422_naming_the_problem(stack: Stack) -> None:
    token = stack.token("fanny")
    async with stack.http(token) as http:
        unknown = await http.post("/api/jobs", json={"task": "os.system", "params": {}})
        bad = await http.post("/api/jobs", json={"task": "demo.count", "params": {"n": "lots"}})
        too_many = await http.post("/api/jobs", json={"task": "demo.count", "params": {"n": 10**7}})
        listed = (await http.get("/api/jobs")).json()

    assert unknown.status_code == 422
    # Python's own phrase ("Unprocessable Entity", "Unprocessable Content" from 3.13); Twisted
    # alone says "Unknown Status".
    assert unknown.reason_phrase == HTTPStatus(422).phrase
    assert unknown.json()["detail"][0]["loc"] == ["body", "task"]
    assert "os.system" in unknown.json()["detail"][0]["msg"]
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "params", "n"]
    assert "integer" in bad.json()["detail"][0]["msg"]
    assert too_many.status_code == 422 and "1000000" in too_many.json()["detail"][0]["msg"]
    assert listed["count"] == 0, "a rejected request must not leave a Job behind"


async def test_a_chunked_request_body_is_read_whole(stack: Stack) -> None:
    # Some clients stream their body (Transfer-Encoding: chunked); WSGI needs its length.
    token = stack.token("gaspard")
    body = b'{"task": "demo.count", "params": {"n": 3}}'
    reader, writer = await asyncio.open_connection("127.0.0.1", stack.port)
    head = (
        "POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {token}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    writer.write(head.encode() + b"10\r\n" + body[:16] + b"\r\n")
    writer.write(f"{len(body) - 16:x}\r\n".encode() + body[16:] + b"\r\n0\r\n\r\n")
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    status, _, payload = answer.partition(b"\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 202"), answer[:300]
    assert b'"task": "demo.count"' in payload and b'"n": 3' in payload


async def test_daphne_pings_quiet_sockets_and_not_talking_ones(stack: Stack) -> None:
    # realtime/pings.py: each socket on its own timer, no later than --ping-interval.
    proc, port = stack.start_web(None, "--ping-interval", "1")
    token = stack.token("hector")
    pings: dict[str, int] = {"quiet": 0, "talking": 0}
    headers = {"Authorization": f"Bearer {token}"}

    def counter(name: str) -> Any:
        def on_frame(conn: Any, opcode: int, payload: bytes, now: int) -> None:
            if opcode == rawws.OP_PING:
                pings[name] += 1

        return on_frame

    try:
        quiet, talking = [
            await rawws.connect(0, "127.0.0.1", port, "/ws/events/", headers, counter(name), timeout=10)
            for name in ("quiet", "talking")
        ]
        for _ in range(10):  # 5 s: an app-level ping every half second keeps it talking
            talking.send(b'{"type": "ping"}')
            await asyncio.sleep(0.5)
        quiet.abort()
        talking.abort()
    finally:
        proc.stop()
    assert 3 <= pings["quiet"] <= 6, pings
    assert pings["talking"] == 0, pings
