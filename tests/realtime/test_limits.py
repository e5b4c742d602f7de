"""The socket at its limits: a flooding client, an ``after`` out of range, a layer slow to join."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from channels.layers import InMemoryChannelLayer
from channels.testing import WebsocketCommunicator
from redis.exceptions import ConnectionError as RedisConnectionError

from config.asgi import application
from realtime import protocol, publish
from tests.conftest import ANY_EPOCH
from tests.realtime.conftest import bearer, receive, socket

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("redis_db"),
]


async def test_a_client_past_its_burst_is_closed_with_4429(alice_token, settings):
    settings.REALTIME_CLIENT_RATE = 0.001
    settings.REALTIME_CLIENT_BURST = 3
    async with socket(headers=bearer(alice_token)) as comm:
        await receive(comm)
        for _ in range(4):
            await comm.send_json_to({"type": "ping"})
        assert [await receive(comm) for _ in range(3)] == [{"type": "pong"}] * 3
        assert await comm.receive_output(timeout=3) == {
            "type": "websocket.close",
            "code": protocol.CLOSE_FLOOD,
        }


async def test_a_client_within_its_rate_stays_open(alice_token, settings):
    settings.REALTIME_CLIENT_RATE = 20
    settings.REALTIME_CLIENT_BURST = 2
    async with socket(headers=bearer(alice_token)) as comm:
        await receive(comm)
        for _ in range(6):
            await comm.send_json_to({"type": "ping"})
            assert await receive(comm) == {"type": "pong"}
            await asyncio.sleep(0.06)  # a little over one token's worth


@pytest.mark.parametrize(
    "after",
    [
        str(protocol.MAX_SEQ + 1),
        "99999999999999999999999999",
        "%C2%B2",  # "²": a digit to str.isdigit(), not to int()
        "%EF%BC%91",  # a full-width "1"
        "-1",
        "1e3",
    ],
)
async def test_an_after_out_of_range_gets_an_error_frame_and_the_socket_stays_open(alice, alice_token, after):
    async with socket(f"/ws/events/?after={after}", headers=bearer(alice_token)) as comm:
        assert await receive(comm) == {"type": "hello", "seq": 0, "epoch": ANY_EPOCH}
        error = await receive(comm)
        assert (error["type"], error["code"]) == ("error", "bad_resume")
        await comm.send_json_to({"type": "ping"})
        assert await receive(comm) == {"type": "pong"}


async def test_the_largest_after_is_accepted_and_answered_with_resync(alice, alice_token):
    await asyncio.to_thread(publish, alice.pk, "coucou", {})
    async with socket(f"/ws/events/?after={protocol.MAX_SEQ}", headers=bearer(alice_token)) as comm:
        assert await receive(comm) == {"type": "hello", "seq": 1, "epoch": ANY_EPOCH}
        assert await receive(comm) == {
            "type": "resync",
            "seq": 1,
            "epoch": ANY_EPOCH,
            "after": protocol.MAX_SEQ,
        }


@pytest.mark.parametrize("after", [protocol.MAX_SEQ + 1, True])
async def test_a_resume_out_of_range_gets_an_error_frame(alice_token, after):
    async with socket(headers=bearer(alice_token)) as comm:
        await receive(comm)
        await comm.send_json_to({"type": "resume", "after": after})
        error = await receive(comm)
        assert (error["type"], error["code"]) == ("error", "bad_resume")


class SlowToJoinLayer(InMemoryChannelLayer):
    """An in-memory layer whose first ``group_add`` calls fail as while Redis restarts."""

    failures = 0
    error: Exception = RedisConnectionError("Connection refused")

    async def group_add(self, group: str, channel: str) -> None:
        if SlowToJoinLayer.failures > 0:
            SlowToJoinLayer.failures -= 1
            raise SlowToJoinLayer.error
        await super().group_add(group, channel)


@pytest.fixture
def slow_layer(settings: Any) -> type[SlowToJoinLayer]:
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": f"{__name__}.SlowToJoinLayer"}}
    return SlowToJoinLayer


@pytest.mark.parametrize(
    "error",
    [
        RedisConnectionError("Connection refused"),
        # redis-py's asyncio pub/sub, reconnecting its subscriber while the layer's reader
        # waits on the same connection (seen in tests/live after a Redis restart)
        RuntimeError("read() called while another coroutine is already waiting for incoming data"),
    ],
)
async def test_a_socket_joins_once_the_layer_comes_back(alice, alice_token, slow_layer, monkeypatch, error):
    await asyncio.to_thread(publish, alice.pk, "coucou", {"n": 1})
    monkeypatch.setattr(slow_layer, "error", error)
    slow_layer.failures = 2
    async with socket("/ws/events/?after=0", headers=bearer(alice_token)) as comm:
        assert await receive(comm) == {"type": "hello", "seq": 1, "epoch": ANY_EPOCH}
        assert (await receive(comm))["data"] == {"n": 1}
    assert slow_layer.failures == 0


async def test_a_bug_in_joining_is_not_retried_as_redis_coming_back(alice_token, slow_layer, monkeypatch):
    monkeypatch.setattr(slow_layer, "error", RuntimeError("a bug"))
    slow_layer.failures = 100
    comm = WebsocketCommunicator(application, "/ws/events/", headers=bearer(alice_token))
    with pytest.raises(RuntimeError, match="a bug"):  # daphne answers such a handshake with 500
        await comm.connect(timeout=3)
    assert slow_layer.failures == 99


async def test_a_socket_that_cannot_join_is_closed_with_try_again(alice_token, slow_layer):
    slow_layer.failures = 100
    comm = WebsocketCommunicator(application, "/ws/events/", headers=bearer(alice_token))
    connected, _ = await comm.connect(timeout=10)
    assert connected
    closed = {"type": "websocket.close", "code": protocol.CLOSE_TRY_AGAIN}
    assert await comm.receive_output(timeout=3) == closed
    await comm.disconnect()


async def test_an_after_that_is_not_utf8_gets_an_error_frame(alice_token):
    comm = WebsocketCommunicator(application, "/ws/events/", headers=bearer(alice_token))
    comm.scope["query_string"] = b"after=\xff1"  # raw bytes, as a server may pass them on
    connected, _ = await comm.connect(timeout=3)
    assert connected
    assert (await receive(comm))["type"] == "hello"
    assert (await receive(comm))["code"] == "bad_resume"
    await comm.disconnect()
