"""On real processes: a message posted over REST reaches the other member's socket through
``chat:<slug>``, and nobody else's, over a real WebSocket to a real daphne."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live.harness import Stack, recv_json, running_stack

pytestmark = [pytest.mark.live, pytest.mark.asyncio]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(Path(tmp_path_factory.mktemp("chat")), workers=()) as live:
        yield live


async def next_of(ws, type_: str) -> dict:
    while True:
        frame = await recv_json(ws)
        if frame["type"] == type_:
            return frame


async def test_a_member_hears_the_other_members_message_and_an_outsider_nothing(stack: Stack) -> None:
    alice, bob, carol = stack.token("alice"), stack.token("bob"), stack.token("carol")
    stack.manage("create_room", "lobby", "--members", "alice", "bob")
    async with stack.ws(bob) as bob_ws, stack.ws(carol) as carol_ws, stack.http(alice) as http:
        await recv_json(bob_ws)
        await recv_json(carol_ws)
        await bob_ws.send(json.dumps({"type": "subscribe", "channel": "chat:lobby", "after": 0}))
        assert (await next_of(bob_ws, "subscribed"))["channel"] == "chat:lobby"
        await carol_ws.send(json.dumps({"type": "subscribe", "channel": "chat:lobby"}))
        assert (await next_of(carol_ws, "error"))["code"] == "forbidden"

        response = await http.post("/api/chat/rooms/lobby/messages", json={"body": "coucou bob"})
        assert response.status_code == 201, response.text
        frame = await next_of(bob_ws, "chat.message")
        assert (frame["channel"], frame["seq"]) == ("chat:lobby", 1)
        assert frame["data"] == response.json()
        async with stack.http(carol) as outsider:
            assert (await outsider.get("/api/realtime/presence/chat:lobby")).status_code == 403
            assert (await outsider.get("/api/chat/rooms/lobby/messages")).status_code == 404
        async with stack.http(bob) as member:
            present = (await member.get("/api/realtime/presence/chat:lobby")).json()["users"]
        assert [user["username"] for user in present] == ["bob"]
        with pytest.raises(TimeoutError):
            await recv_json(carol_ws, 0.5)
