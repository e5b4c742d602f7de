"""Named channels across real processes: two daphne processes on one Redis, one of them killed."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.live.harness import Stack, recv_json, running_stack

pytestmark = pytest.mark.asyncio

TTL_S = 3.0  # REALTIME_PRESENCE_TTL_S: a killed process's users leave within 4/3 of it


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(
        Path(tmp_path_factory.mktemp("channels")),
        workers=(),
        DJANGO_SETTINGS_MODULE="tests.live.channels_settings",
        REALTIME_PRESENCE_TTL_S=str(TTL_S),
        REALTIME_SWEEP_INTERVAL_S="0.5",
    ) as live:
        live.start_web()
        yield live


def publish_to(stack: Stack, channel: str, count: int, start: int = 1) -> None:
    """``count`` events on ``channel`` from another process, as app code would send them."""
    code = (
        "from realtime import publish_to\n"
        f"for n in range({start}, {start + count}): publish_to({channel!r}, 'note', {{'n': n}})\n"
    )
    stack.manage("shell", "-v", "0", "-c", code)


async def subscribe(ws: Any, channel: str, **resume: Any) -> dict[str, Any]:
    await ws.send(json.dumps({"type": "subscribe", "channel": channel, **resume}))
    while True:
        frame = await recv_json(ws)
        if frame["type"] == "subscribed":
            return frame


async def next_of(ws: Any, kind: str, timeout: float = 10) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        frame = await recv_json(ws, max(0.01, deadline - time.monotonic()))
        if frame["type"] == kind:
            return frame


async def test_presence_is_shared_by_two_web_processes(stack: Stack) -> None:
    alice, bob = stack.token("lounge-alice"), stack.token("lounge-bob")
    (_, port_a), (_, port_b) = stack.webs[0], stack.webs[1]
    async with stack.ws(alice, port=port_a) as a:
        await recv_json(a)
        await subscribe(a, "lounge:shared")
        async with stack.ws(bob, port=port_b) as b, stack.http(alice, port=port_b) as http:
            await recv_json(b)
            await subscribe(b, "lounge:shared")
            joined = await next_of(a, "presence.join")
            while joined["data"]["user"]["username"] != "lounge-bob":
                joined = await next_of(a, "presence.join")
            listed = (await http.get("/api/realtime/presence/lounge:shared")).json()
        assert [u["username"] for u in listed["users"]] == ["lounge-alice", "lounge-bob"]
        left = await next_of(a, "presence.leave", timeout=5)
    assert left["data"]["user"]["username"] == "lounge-bob"


async def test_the_users_of_a_killed_web_process_leave_within_the_ttl(stack: Stack) -> None:
    alice, carol = stack.token("ttl-alice"), stack.token("ttl-carol")
    victim, victim_port = stack.start_web()
    async with stack.ws(alice) as a, stack.http(alice) as http:
        await recv_json(a)
        await subscribe(a, "lounge:ttl")
        b = await stack.ws(carol, port=victim_port).__aenter__()
        await recv_json(b)
        await subscribe(b, "lounge:ttl")
        listed = (await http.get("/api/realtime/presence/lounge:ttl")).json()
        assert "ttl-carol" in [u["username"] for u in listed["users"]]
        victim.kill()  # SIGKILL: its sockets never say goodbye
        killed = time.monotonic()
        left = await next_of(a, "presence.leave", timeout=TTL_S * 4 / 3 + 3)
        took = time.monotonic() - killed
        listed = (await http.get("/api/realtime/presence/lounge:ttl")).json()
    assert left["data"]["user"]["username"] == "ttl-carol"
    assert took <= TTL_S * 4 / 3 + 1, f"left after {took:.1f}s with a {TTL_S}s TTL"
    assert [u["username"] for u in listed["users"]] == ["ttl-alice"]


async def test_a_channels_events_reach_subscribers_on_every_process_once_and_in_order(stack: Stack) -> None:
    (_, port_a), (_, port_b) = stack.webs[0], stack.webs[1]
    async with stack.ws(port=port_a) as a, stack.ws(port=port_b) as b:
        for ws in (a, b):
            assert await recv_json(ws) == {"type": "hello", "seq": None, "epoch": None}
            await subscribe(ws, "wall:everyone")
        await asyncio.to_thread(publish_to, stack, "wall:everyone", 20)
        for ws in (a, b):
            frames = [await next_of(ws, "note") for _ in range(20)]
            assert [f["data"]["n"] for f in frames] == list(range(1, 21))


async def test_an_anonymous_reader_resumes_a_public_channel_after_a_drop(stack: Stack) -> None:
    async with stack.ws() as ws:
        await recv_json(ws)
        subscribed = await subscribe(ws, "wall:resume")
        await asyncio.to_thread(publish_to, stack, "wall:resume", 3)
        seen = [await next_of(ws, "note") for _ in range(3)]
    await asyncio.to_thread(publish_to, stack, "wall:resume", 4, start=4)  # while it is away
    async with stack.ws() as ws:
        await recv_json(ws)
        await subscribe(ws, "wall:resume", after=seen[-1]["seq"], epoch=subscribed["epoch"])
        missed = [await next_of(ws, "note") for _ in range(4)]
    assert [f["data"]["n"] for f in seen + missed] == list(range(1, 8))
    assert [f["seq"] for f in seen + missed] == list(range(1, 8))


async def test_a_channel_whose_history_redis_lost_gives_its_subscribers_resync_then_every_event(
    stack: Stack,
) -> None:
    async with stack.ws() as ws:
        await recv_json(ws)
        before = await subscribe(ws, "wall:lost")
        await asyncio.to_thread(publish_to, stack, "wall:lost", 2)
        await next_of(ws, "note")
        await next_of(ws, "note")
        stack.redis_client().delete("coucou:{c:wall:lost}:head", "coucou:{c:wall:lost}:events")
        resync = await next_of(ws, "resync", timeout=5)  # the sweep finds it: no new event came
        await asyncio.to_thread(publish_to, stack, "wall:lost", 2, start=3)
        after = [await next_of(ws, "note") for _ in range(2)]
    assert resync["channel"] == "wall:lost" and resync["epoch"] != before["epoch"]
    assert [(f["seq"], f["epoch"], f["data"]["n"]) for f in after] == [
        (1, resync["epoch"], 3),
        (2, resync["epoch"], 4),
    ]


async def test_a_private_channel_is_refused_to_anonymous_and_bad_tokens_are_4401(stack: Stack) -> None:
    async with stack.ws() as ws:
        await recv_json(ws)
        await ws.send(json.dumps({"type": "subscribe", "channel": "lounge:shared"}))
        error = await recv_json(ws)
    assert (error["type"], error["code"], error["channel"]) == ("error", "forbidden", "lounge:shared")
    async with stack.ws("cou_not-a-token") as ws:
        with pytest.raises(Exception) as closed:
            await recv_json(ws)
    assert getattr(closed.value, "rcvd", None) is not None and closed.value.rcvd.code == 4401
