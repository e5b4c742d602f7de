"""Named channels on the events socket, through the whole ASGI stack on a real Redis:
subscribe, resume, resync, presence, kick, limits and sockets without credentials."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator

from api.tokens import create_token
from config.asgi import application
from realtime import kick, namespace, namespaces, publish, publish_to
from realtime.groups import channel_stream
from tests.conftest import ANY_EPOCH
from tests.realtime.conftest import bearer, receive, socket

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("redis_db", "declared"),
]

MEMBERS: dict[str, set[str]] = {"lobby": {"alice", "bob"}, "secret": {"bob"}}


@pytest.fixture
def declared() -> Iterator[None]:
    """Test namespaces, then the registry as it was: whether one is public changes what a
    socket without credentials gets."""
    saved = dict(namespaces._registry)
    namespaces._registry.clear()

    @namespace("room", history=100, presence=True)
    def room(user: Any, name: str) -> bool:
        return user.get_username() in MEMBERS.get(name, set())

    @namespace("board", history=100)
    def board(user: Any, name: str) -> bool:
        return user.get_username() in MEMBERS.get(name, set())

    @namespace("news", public=True, history=3)
    def news(user: Any, name: str) -> bool:
        return name != "draft"

    yield
    namespaces._registry.clear()
    namespaces._registry.update(saved)


@pytest.fixture
def bob_token(bob: Any) -> str:
    return create_token(user=bob)


async def to(channel: str, type: str = "msg", **data: Any) -> int:
    return await asyncio.to_thread(publish_to, channel, type, data)


async def drain(comm: WebsocketCommunicator) -> list[dict[str, Any]]:
    frames = []
    while not await comm.receive_nothing(timeout=0.2):
        frames.append(await receive(comm))
    return frames


async def subscribe(comm: WebsocketCommunicator, channel: str, **resume: Any) -> dict[str, Any]:
    await comm.send_json_to({"type": "subscribe", "channel": channel, **resume})
    return await receive(comm)


async def test_a_subscriber_gets_subscribed_then_the_channels_events_live(alice, alice_token):
    await to("board:lobby", n=1)
    async with socket(headers=bearer(alice_token)) as comm:
        await receive(comm)
        assert await subscribe(comm, "board:lobby") == {
            "type": "subscribed", "channel": "board:lobby", "seq": 1, "epoch": ANY_EPOCH,
        }  # fmt: skip
        await to("board:lobby", n=2)
        frame = await receive(comm)
        assert (frame["channel"], frame["seq"], frame["type"]) == ("board:lobby", 2, "msg")
        assert frame["data"] == {"n": 2}
        # The user's own stream goes on beside it, without a channel.
        await asyncio.to_thread(publish, alice.pk, "coucou", {"message": "hi"})
        own = await receive(comm)
        assert "channel" not in own and own["seq"] == 1 and own["type"] == "coucou"
        assert await comm.receive_nothing(timeout=0.2)


async def test_subscribe_with_after_replays_the_channels_history_then_continues(alice, alice_token):
    for n in range(1, 5):
        await to("board:lobby", n=n)
    async with socket(headers=bearer(alice_token)) as comm:
        await receive(comm)
        subscribed = await subscribe(comm, "board:lobby", after=1)
        replayed = [await receive(comm) for _ in range(3)]
        assert [f["data"]["n"] for f in replayed] == [2, 3, 4]
        assert {f["epoch"] for f in replayed} == {subscribed["epoch"]}
        await to("board:lobby", n=5)
        assert (await receive(comm))["seq"] == 5


async def test_resuming_a_channel_in_another_epoch_gets_resync_then_its_history(alice, alice_token):
    await to("board:lobby", n=1)
    async with socket(headers=bearer(alice_token)) as comm:
        await receive(comm)
        await subscribe(comm, "board:lobby", after=0, epoch="0badc0ffee00")
        assert await receive(comm) == {
            "type": "resync", "channel": "board:lobby", "seq": 1, "epoch": ANY_EPOCH, "after": 0,
        }  # fmt: skip
        assert (await receive(comm))["data"] == {"n": 1}


async def test_a_seq_past_what_a_short_history_keeps_gets_resync(alice, alice_token):
    # history=3 keeps at least 3: Redis trims whole stream nodes (MAXLEN ~), 100 entries each.
    for n in range(1, 121):
        await to("news:today", n=n)
    async with socket(headers=bearer(alice_token)) as comm:
        await receive(comm)
        epoch = (await subscribe(comm, "news:today"))["epoch"]
        await subscribe(comm, "news:today", after=1, epoch=epoch)
        resync = await receive(comm)
        assert (resync["type"], resync["channel"], resync["seq"]) == ("resync", "news:today", 120)
        first = (await receive(comm))["seq"]
        rest = [(await receive(comm))["seq"] for _ in range(first, 120)]
        assert 2 < first <= 118 and rest == list(range(first + 1, 121))


async def test_an_open_subscription_whose_channel_lost_its_history_gets_resync_then_every_event(
    alice, alice_token, redis_db, settings
):
    settings.REALTIME_SWEEP_INTERVAL_S = 0.2
    await to("board:lobby", n=1)
    async with socket(headers=bearer(alice_token)) as comm:
        await receive(comm)
        before = await subscribe(comm, "board:lobby")
        redis_db.delete(channel_stream("board", "lobby").head, channel_stream("board", "lobby").events)
        resync = await receive(comm)  # found by the sweep: no event came
        assert resync["type"] == "resync" and resync["channel"] == "board:lobby"
        assert resync["epoch"] != before["epoch"]
        await to("board:lobby", n=2)
        frame = await receive(comm)
        assert (frame["seq"], frame["epoch"], frame["data"]) == (1, resync["epoch"], {"n": 2})


@pytest.mark.parametrize(
    ("channel", "code"),
    [
        ("room:secret", "forbidden"),
        ("news:draft", "forbidden"),
        ("nope:lobby", "unknown_channel"),
        ("room:Lobby", "bad_channel"),
        ("lobby", "bad_channel"),
        ("room:" + "a" * 101, "bad_channel"),
        (42, "bad_channel"),
    ],
)
async def test_a_channel_that_cannot_be_read_gets_an_error_and_the_socket_stays_open(
    alice, alice_token, channel, code
):
    async with socket(headers=bearer(alice_token)) as comm:
        await receive(comm)
        error = await subscribe(comm, channel)
        assert (error["type"], error["code"]) == ("error", code)
        assert error["channel"] == (channel if isinstance(channel, str) else None)
        await to("room:secret", n=1)
        await comm.send_json_to({"type": "ping"})
        assert await receive(comm) == {"type": "pong"}  # and nothing of room:secret


async def test_subscriptions_per_socket_are_limited(alice, alice_token, settings):
    settings.REALTIME_MAX_SUBSCRIPTIONS = 1
    async with socket(headers=bearer(alice_token)) as comm:
        await receive(comm)
        assert (await subscribe(comm, "board:lobby"))["type"] == "subscribed"
        error = await subscribe(comm, "news:today")
        assert (error["code"], error["channel"]) == ("too_many_subscriptions", "news:today")
        assert "REALTIME_MAX_SUBSCRIPTIONS" in error["detail"]


async def test_unsubscribe_stops_the_channels_events(alice, alice_token):
    async with socket(headers=bearer(alice_token)) as comm:
        await receive(comm)
        await subscribe(comm, "board:lobby")
        await comm.send_json_to({"type": "unsubscribe", "channel": "board:lobby"})
        assert await receive(comm) == {"type": "unsubscribed", "channel": "board:lobby"}
        await to("board:lobby", n=1)
        assert await comm.receive_nothing(timeout=0.3)
        await comm.send_json_to({"type": "unsubscribe", "channel": "board:lobby"})
        assert (await receive(comm))["code"] == "not_subscribed"


async def test_kick_ends_the_users_subscriptions_on_every_socket_and_only_theirs(
    alice, alice_token, bob, bob_token
):
    async with (
        socket(headers=bearer(alice_token)) as first,
        socket(headers=bearer(alice_token)) as second,
        socket(headers=bearer(bob_token)) as bobs,
    ):
        for comm in (first, second, bobs):
            await receive(comm)
            await subscribe(comm, "room:lobby")
        # Presence frames may also reach a socket that subscribed a moment after they were sent.
        heard = [await drain(comm) for comm in (first, second, bobs)]
        assert [f["data"]["user"]["username"] for f in heard[0]] == ["alice", "bob"]
        await asyncio.to_thread(kick, "room:lobby", alice.pk)
        for comm in (first, second):
            kicked = {"type": "unsubscribed", "channel": "room:lobby", "reason": "kicked"}
            assert await receive(comm) == kicked
        assert (await receive(bobs))["type"] == "presence.leave"  # alice's last socket left
        await to("room:lobby", n=1)
        assert (await receive(bobs))["data"] == {"n": 1}
        assert await first.receive_nothing(timeout=0.2)


async def test_presence_join_and_leave_are_sent_to_subscribers_and_listed_over_rest(
    alice, alice_token, bob, bob_token, async_client
):
    async with socket(headers=bearer(alice_token)) as alices:
        await receive(alices)
        await subscribe(alices, "room:lobby")
        assert await receive(alices) == {
            "channel": "room:lobby", "type": "presence.join",
            "data": {"user": {"id": alice.pk, "username": "alice"}},
        }  # fmt: skip
        async with socket(headers=bearer(bob_token)) as bobs:
            await receive(bobs)
            await subscribe(bobs, "room:lobby")
            joined = await receive(alices)
            assert (joined["type"], joined["data"]["user"]["username"]) == ("presence.join", "bob")
            listed = await async_client.get(
                "/api/realtime/presence/room:lobby", headers={"Authorization": f"Bearer {alice_token}"}
            )
            assert listed.status_code == 200
            assert listed.json() == {
                "users": [{"id": alice.pk, "username": "alice"}, {"id": bob.pk, "username": "bob"}]
            }
        left = await receive(alices)
        assert (left["type"], left["data"]["user"]["id"]) == ("presence.leave", bob.pk)
        assert "seq" not in left


async def test_presence_over_rest_is_for_readers_of_the_channel_only(alice_token, async_client):
    auth = {"Authorization": f"Bearer {alice_token}"}
    answers = {
        path: (await async_client.get(f"/api/realtime/presence/{path}", headers=auth)).status_code
        for path in ("room:secret", "nope:x", "room:Bad", "news:today")
    }
    assert answers == {"room:secret": 403, "nope:x": 404, "room:Bad": 422, "news:today": 404}
    assert (await async_client.get("/api/realtime/presence/room:lobby")).status_code == 401


async def test_sockets_per_user_are_limited_across_the_users_sockets(alice, alice_token, settings):
    settings.REALTIME_MAX_SOCKETS_PER_USER = 1
    async with socket(headers=bearer(alice_token)) as first:
        await receive(first)
        second = WebsocketCommunicator(application, "/ws/events/", headers=bearer(alice_token))
        assert (await second.connect(timeout=3))[0]
        error = await receive(second)
        assert (error["type"], error["code"]) == ("error", "too_many_sockets")
        assert await second.receive_output(timeout=3) == {"type": "websocket.close", "code": 4429}
        await second.disconnect()
    async with socket(headers=bearer(alice_token)) as again:  # the first one gave its place back
        assert (await receive(again))["type"] == "hello"


async def test_a_socket_without_credentials_reads_only_public_channels(settings):
    async with socket() as comm:
        assert await receive(comm) == {"type": "hello", "seq": None, "epoch": None}
        assert (await subscribe(comm, "news:today"))["type"] == "subscribed"
        assert (await subscribe(comm, "room:lobby"))["code"] == "forbidden"
        await comm.send_json_to({"type": "resume", "after": 0})
        assert (await receive(comm))["code"] == "bad_resume"
        await to("news:today", n=1)
        assert (await receive(comm))["data"] == {"n": 1}


async def test_sockets_without_credentials_are_limited_per_address(settings):
    settings.REALTIME_MAX_ANONYMOUS_PER_IP = 2
    async with socket() as first, socket() as second:
        for comm in (first, second):
            await receive(comm)
        third = WebsocketCommunicator(application, "/ws/events/")
        assert (await third.connect(timeout=3))[0]
        assert (await receive(third))["code"] == "too_many_sockets"
        assert await third.receive_output(timeout=3) == {"type": "websocket.close", "code": 4429}
        await third.disconnect()


@pytest.mark.parametrize("public", [True, False])
async def test_bad_credentials_are_4401_even_where_a_namespace_is_public(public):
    if not public:
        namespaces._registry.pop("news")
    for headers in (bearer("cou_nope"), None):
        path = "/ws/events/" if headers else "/ws/events/?ticket=nope"
        comm = WebsocketCommunicator(application, path, headers=headers or [])
        assert (await comm.connect(timeout=3))[0]
        assert await comm.receive_output(timeout=3) == {"type": "websocket.close", "code": 4401}
        await comm.disconnect()
    if not public:  # and no credentials at all, with no public namespace
        comm = WebsocketCommunicator(application, "/ws/events/")
        assert (await comm.connect(timeout=3))[0]
        assert await comm.receive_output(timeout=3) == {"type": "websocket.close", "code": 4401}
        await comm.disconnect()


async def test_a_channels_events_reach_only_its_subscribers(alice, alice_token, bob, bob_token):
    async with socket(headers=bearer(alice_token)) as alices, socket(headers=bearer(bob_token)) as bobs:
        await receive(alices)
        await receive(bobs)
        await subscribe(bobs, "board:secret")
        await subscribe(alices, "news:today")
        await to("board:secret", n=1)
        await to("news:today", n=2)
        assert (await receive(alices))["channel"] == "news:today"
        assert (await receive(bobs))["channel"] == "board:secret"
        assert await alices.receive_nothing(timeout=0.2)
        assert await bobs.receive_nothing(timeout=0.2)


async def test_a_failing_authoriser_gets_unavailable_and_leaks_nothing(
    alice, alice_token, redis_db, monkeypatch
):
    from django.db import DatabaseError

    def broken(user: Any, name: str) -> bool:
        raise DatabaseError("the database went away")

    monkeypatch.setitem(
        namespaces._registry,
        "board",
        namespaces._registry["board"].__class__(
            **{**vars(namespaces._registry["board"]), "authorize": broken}
        ),
    )
    async with socket(headers=bearer(alice_token)) as comm:
        await receive(comm)
        error = await subscribe(comm, "board:lobby")
        assert (error["code"], error["channel"]) == ("unavailable", "board:lobby")
        await comm.send_json_to({"type": "ping"})
        assert await receive(comm) == {"type": "pong"}
    # The socket gave its place back: nothing counts against alice any more.
    assert redis_db.zcard(f"coucou:sockets:u{alice.pk}") == 0


async def test_renewal_does_not_bring_back_a_member_who_left(alice, alice_token, bob, bob_token):
    from realtime.presence import leases_for_loop, present

    async with socket(headers=bearer(alice_token)) as alices, socket(headers=bearer(bob_token)) as bobs:
        await receive(alices)
        await receive(bobs)
        await subscribe(alices, "room:lobby")
        await subscribe(bobs, "room:lobby")
        await comm_unsubscribe(bobs, "room:lobby")
        await leases_for_loop(15).renew_once()
        users = await asyncio.to_thread(present, channel_stream("room", "lobby"))
        assert [u["username"] for u in users] == ["alice"]
        heard = [f["type"] for f in await drain(alices)]
        assert heard.count("presence.leave") == 1 and heard[-1] == "presence.leave"


async def comm_unsubscribe(comm: WebsocketCommunicator, channel: str) -> None:
    await comm.send_json_to({"type": "unsubscribe", "channel": channel})
    while (await receive(comm))["type"] != "unsubscribed":
        pass
