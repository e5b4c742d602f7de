"""A member's socket replays and hears ``chat:<slug>``; an outsider's is refused (in-process ASGI)."""

from __future__ import annotations

import asyncio

import pytest

from api.tokens import create_token
from chat.services import message_post
from tests.chat.conftest import make_room
from tests.realtime.conftest import bearer, receive, socket

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("redis_db"),
]


async def next_of(comm, type_: str) -> dict:
    while True:
        frame = await receive(comm)
        if frame["type"] == type_:
            return frame


async def test_a_member_replays_the_history_then_hears_new_messages(alice, bob):
    room = await asyncio.to_thread(make_room, members=(alice, bob))
    for body in ("one", "two"):
        await asyncio.to_thread(message_post, room=room, author=alice, body=body)
    token = await asyncio.to_thread(create_token, user=bob)
    async with socket(headers=bearer(token)) as comm:
        assert (await receive(comm))["type"] == "hello"
        await comm.send_json_to({"type": "subscribe", "channel": "chat:lobby", "after": 0})
        subscribed = await next_of(comm, "subscribed")
        assert (subscribed["channel"], subscribed["seq"]) == ("chat:lobby", 2)
        replayed = [await next_of(comm, "chat.message") for _ in range(2)]
        await asyncio.to_thread(message_post, room=room, author=alice, body="three")
        live = await next_of(comm, "chat.message")
    frames = [*replayed, live]
    assert [(f["seq"], f["data"]["body"]) for f in frames] == [(1, "one"), (2, "two"), (3, "three")]
    assert frames[-1]["data"]["author"] == {"id": alice.pk, "username": "alice"}


async def test_an_outsider_may_not_subscribe_and_hears_nothing(alice, bob):
    room = await asyncio.to_thread(make_room, members=(alice,))
    token = await asyncio.to_thread(create_token, user=bob)
    async with socket(headers=bearer(token)) as comm:
        await receive(comm)
        for channel in ("chat:lobby", "chat:nowhere"):
            await comm.send_json_to({"type": "subscribe", "channel": channel, "after": 0})
            error = await receive(comm)
            assert (error["type"], error["code"], error["channel"]) == ("error", "forbidden", channel)
        await asyncio.to_thread(message_post, room=room, author=alice, body="members only")
        assert await comm.receive_nothing(timeout=0.3)


async def test_an_anonymous_socket_may_not_read_a_room(alice):
    await asyncio.to_thread(make_room, members=(alice,))
    async with socket() as comm:  # no credentials: accepted, since liveblog is public
        assert await receive(comm) == {"type": "hello", "seq": None, "epoch": None}
        await comm.send_json_to({"type": "subscribe", "channel": "chat:lobby"})
        error = await receive(comm)
        assert (error["type"], error["code"]) == ("error", "forbidden")


async def test_a_member_taken_off_the_room_is_kicked_and_may_not_come_back(alice, bob):
    room = await asyncio.to_thread(make_room, members=(alice, bob))
    token = await asyncio.to_thread(create_token, user=bob)
    async with socket(headers=bearer(token)) as comm:
        await receive(comm)
        await comm.send_json_to({"type": "subscribe", "channel": "chat:lobby"})
        await next_of(comm, "subscribed")
        await asyncio.to_thread(room.members.remove, bob)
        gone = await next_of(comm, "unsubscribed")
        assert (gone["channel"], gone.get("reason")) == ("chat:lobby", "kicked")
        await comm.send_json_to({"type": "subscribe", "channel": "chat:lobby"})
        assert (await next_of(comm, "error"))["code"] == "forbidden"
        await asyncio.to_thread(message_post, room=room, author=alice, body="bob is gone")
        assert await comm.receive_nothing(timeout=0.3)
