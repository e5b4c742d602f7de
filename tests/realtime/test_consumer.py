"""The events socket, driven through the whole ASGI stack (origin check, auth, consumer)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.test import Client

from config.asgi import application
from realtime import publish
from realtime.groups import group_for, head_key
from realtime.stream import read_after
from tests.conftest import ANY_EPOCH
from tests.realtime.conftest import bearer, receive, socket

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("redis_db"),
]


def cookie(session: str) -> tuple[bytes, bytes]:
    return (b"cookie", f"sessionid={session}".encode())


async def send(user: Any, type: str = "coucou", **data: Any) -> int:
    return await asyncio.to_thread(publish, user.pk, type, data)


async def receive_seqs(comm: WebsocketCommunicator, count: int) -> list[int]:
    return [(await receive(comm))["seq"] for _ in range(count)]


@pytest.fixture
def bob_token(bob: Any) -> str:
    from api.tokens import create_token

    return create_token(user=bob)


@pytest.fixture
def alice_session(alice: Any) -> str:
    client = Client()
    client.force_login(alice)
    return client.cookies["sessionid"].value


@pytest.mark.usefixtures("no_public_namespace")  # tests/realtime/test_channels.py: with one
@pytest.mark.parametrize("credentials", ["none", "bad token", "session cookie without Origin"])
async def test_unauthenticated_sockets_are_closed_with_4401(alice_session, credentials):
    headers = {
        "none": [],
        "bad token": bearer("cou_nope"),
        "session cookie without Origin": [cookie(alice_session)],
    }
    comm = WebsocketCommunicator(application, "/ws/events/", headers=headers[credentials])
    connected, _ = await comm.connect(timeout=3)
    assert connected
    assert await comm.receive_output(timeout=3) == {"type": "websocket.close", "code": 4401}
    await comm.disconnect()


async def test_bearer_gets_hello_with_the_latest_seq_then_live_events(alice, alice_token):
    await send(alice)
    await send(alice)
    async with socket(headers=bearer(alice_token)) as comm:
        assert await receive(comm) == {"type": "hello", "seq": 2, "epoch": ANY_EPOCH}
        seq = await send(alice, "coucou", message="coucou alice")
        frame = await receive(comm)
        assert frame["seq"] == seq == 3
        assert frame["type"] == "coucou"
        assert frame["data"] == {"message": "coucou alice"}
        assert await comm.receive_nothing(timeout=0.2)


async def test_after_replays_exactly_the_missed_events_then_continues_live(alice, alice_token):
    for i in range(1, 6):
        await send(alice, i=i)
    async with socket("/ws/events/?after=2", headers=bearer(alice_token)) as comm:
        assert await receive(comm) == {"type": "hello", "seq": 5, "epoch": ANY_EPOCH}
        replayed = [await receive(comm) for _ in range(3)]
        assert [(f["seq"], f["data"]["i"]) for f in replayed] == [(3, 3), (4, 4), (5, 5)]
        await send(alice, i=6)
        assert await receive_seqs(comm, 1) == [6]
        assert await comm.receive_nothing(timeout=0.2)


async def test_after_zero_replays_everything(alice, alice_token):
    for _ in range(3):
        await send(alice)
    async with socket("/ws/events/?after=0", headers=bearer(alice_token)) as comm:
        assert (await receive(comm))["type"] == "hello"
        assert await receive_seqs(comm, 3) == [1, 2, 3]


async def test_resume_on_an_open_socket_replays_after_seq(alice, alice_token):
    for _ in range(4):
        await send(alice)
    async with socket(headers=bearer(alice_token)) as comm:
        assert await receive(comm) == {"type": "hello", "seq": 4, "epoch": ANY_EPOCH}
        await comm.send_json_to({"type": "resume", "after": 1})
        assert await receive_seqs(comm, 3) == [2, 3, 4]
        await send(alice)
        assert await receive_seqs(comm, 1) == [5]
        assert await comm.receive_nothing(timeout=0.2)


async def test_asking_for_events_the_server_never_had_gets_resync(alice, alice_token):
    await send(alice)
    async with socket("/ws/events/?after=10", headers=bearer(alice_token)) as comm:
        assert await receive(comm) == {"type": "hello", "seq": 1, "epoch": ANY_EPOCH}
        assert await receive(comm) == {"type": "resync", "seq": 1, "epoch": ANY_EPOCH, "after": 10}


async def test_ping_gets_pong(alice, alice_token):
    async with socket(headers=bearer(alice_token)) as comm:
        await receive(comm)
        await comm.send_json_to({"type": "ping"})
        assert await receive(comm) == {"type": "pong"}


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ('{"type": "subscribe", "group": "user.2"}', "bad_channel"),
        ("not json", "bad_json"),
        ("[1, 2]", "bad_json"),
        ('{"type": "resume", "after": -1}', "bad_resume"),
        ('{"type": "resume", "after": "3"}', "bad_resume"),
        (json.dumps({"type": "ping", "pad": "x" * 5000}), "frame_too_large"),
        (b'{"type": "ping"}', "bad_json"),
    ],
)
async def test_a_bad_client_frame_gets_an_error_frame_and_the_socket_stays_open(
    alice, alice_token, frame, code
):
    async with socket(headers=bearer(alice_token)) as comm:
        await receive(comm)
        await comm.send_to(**{"bytes_data" if isinstance(frame, bytes) else "text_data": frame})
        error = await receive(comm)
        assert error["type"] == "error"
        assert error["code"] == code
        assert error["detail"]
        await comm.send_json_to({"type": "ping"})
        assert await receive(comm) == {"type": "pong"}


async def test_a_malformed_after_gets_an_error_frame(alice, alice_token):
    async with socket("/ws/events/?after=abc", headers=bearer(alice_token)) as comm:
        assert (await receive(comm))["type"] == "hello"
        assert (await receive(comm))["code"] == "bad_resume"


async def test_a_foreign_origin_is_refused_at_handshake(alice, alice_token, alice_session):
    for headers in (
        [(b"origin", b"https://evil.example"), *bearer(alice_token)],
        [(b"origin", b"https://evil.example"), cookie(alice_session)],
        [(b"origin", b"null"), *bearer(alice_token)],
    ):
        comm = WebsocketCommunicator(application, "/ws/events/", headers=headers)
        connected, _ = await comm.connect(timeout=3)
        assert not connected  # closed before accept: daphne answers the handshake with 403
        await comm.disconnect()


async def test_a_session_cookie_with_an_allowed_origin_works(alice, alice_session):
    async with socket(headers=[(b"origin", b"http://localhost"), cookie(alice_session)]) as comm:
        assert await receive(comm) == {"type": "hello", "seq": 0, "epoch": ANY_EPOCH}
        await send(alice)
        assert await receive_seqs(comm, 1) == [1]


async def test_a_user_never_receives_another_users_events(alice, alice_token, bob, bob_token):
    async with socket(headers=bearer(alice_token)) as mine, socket(headers=bearer(bob_token)) as theirs:
        assert await receive(mine) == {"type": "hello", "seq": 0, "epoch": ANY_EPOCH}
        assert await receive(theirs) == {"type": "hello", "seq": 0, "epoch": ANY_EPOCH}
        await send(alice, secret="for alice")
        assert (await receive(mine))["data"] == {"secret": "for alice"}
        assert await theirs.receive_nothing(timeout=0.3)
        await theirs.send_json_to({"type": "resume", "after": 0})
        assert await theirs.receive_nothing(timeout=0.3)


async def test_every_tab_of_a_user_gets_every_event(alice, alice_token):
    async with socket(headers=bearer(alice_token)) as one, socket(headers=bearer(alice_token)) as two:
        await receive(one), await receive(two)
        await send(alice)
        assert await receive_seqs(one, 1) == await receive_seqs(two, 1) == [1]


@asynccontextmanager
async def lossy_live_path(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[None]:
    """Events published inside are stored but never relayed (the channel layer is at-most-once)."""
    with monkeypatch.context() as lossy:
        lossy.setattr("realtime.stream.pubsub_channel", lambda group, prefix: "nowhere")
        yield


async def test_a_gap_in_the_live_path_is_repaired_from_the_stream(alice, alice_token, monkeypatch, settings):
    settings.REALTIME_SWEEP_INTERVAL_S = 60  # the repair must come from the gap check, not the sweep
    async with socket(headers=bearer(alice_token)) as comm:
        assert await receive(comm) == {"type": "hello", "seq": 0, "epoch": ANY_EPOCH}
        async with lossy_live_path(monkeypatch):
            for _ in range(3):
                await send(alice)
        assert await comm.receive_nothing(timeout=0.2)
        await send(alice)  # seq 4 arrives live: the consumer sees the hole and fills it first
        assert await receive_seqs(comm, 4) == [1, 2, 3, 4]
        assert await comm.receive_nothing(timeout=0.2)


async def test_a_lost_last_event_arrives_by_the_sweep(alice, alice_token, monkeypatch, settings):
    settings.REALTIME_SWEEP_INTERVAL_S = 0.1
    async with socket(headers=bearer(alice_token)) as comm:
        assert await receive(comm) == {"type": "hello", "seq": 0, "epoch": ANY_EPOCH}
        await send(alice)
        assert await receive_seqs(comm, 1) == [1]
        async with lossy_live_path(monkeypatch):
            await send(alice)  # no later frame reveals this hole
        assert await receive_seqs(comm, 1) == [2]
        assert await comm.receive_nothing(timeout=0.3)


async def test_a_live_frame_already_sent_is_not_sent_twice(alice, alice_token):
    async with socket(headers=bearer(alice_token)) as comm:
        await receive(comm)
        await send(alice)
        await send(alice)
        assert await receive_seqs(comm, 2) == [1, 2]
        seq, frame = (await asyncio.to_thread(read_after, alice.pk, 0, 1)).frames[0]
        await get_channel_layer().group_send(
            group_for(alice.pk),
            {
                "type": "realtime.event",
                "seq": seq,
                "epoch": json.loads(frame)["epoch"],
                "frame": frame.decode(),
            },
        )
        assert await comm.receive_nothing(timeout=0.3)


# --- epochs: Redis lost or rewound the history ----------------------------------------------


async def test_an_open_socket_whose_history_was_lost_gets_resync_then_every_new_event(
    alice, alice_token, redis_db, settings
):
    settings.REALTIME_SWEEP_INTERVAL_S = 60  # the live frame alone must reveal it
    for _ in range(3):
        await send(alice)
    async with socket(headers=bearer(alice_token)) as comm:
        hello = await receive(comm)
        assert hello["seq"] == 3
        await asyncio.to_thread(redis_db.flushdb)  # Redis restarted empty
        await send(alice, message="one")
        await send(alice, message="two")
        resync = await receive(comm)
        assert (resync["type"], resync["epoch"], resync["after"]) == ("resync", ANY_EPOCH, 3)
        assert resync["epoch"] != hello["epoch"]
        first, second = await receive(comm), await receive(comm)
        assert [(f["seq"], f["epoch"], f["data"]) for f in (first, second)] == [
            (1, resync["epoch"], {"message": "one"}),
            (2, resync["epoch"], {"message": "two"}),
        ]
        assert await comm.receive_nothing(timeout=0.2)


async def test_an_open_socket_hears_of_a_rewind_by_the_sweep_with_no_new_event(
    alice, alice_token, redis_db, settings
):
    settings.REALTIME_SWEEP_INTERVAL_S = 0.1
    for _ in range(3):
        await send(alice)
    async with socket(headers=bearer(alice_token)) as comm:
        hello = await receive(comm)
        # As after a restart from a snapshot: the stream was last checked under another process.
        await asyncio.to_thread(redis_db.hset, head_key(alice.pk), "r", "0" * 40)
        resync = await receive(comm)
        assert resync["type"] == "resync"
        assert resync["epoch"] != hello["epoch"]
        await send(alice, message="after")
        frame = await receive(comm)
        assert (frame["seq"], frame["epoch"], frame["data"]) == (4, resync["epoch"], {"message": "after"})


async def test_resuming_with_another_epoch_gives_resync_then_the_current_epochs_events(alice, alice_token):
    await send(alice)
    await send(alice)
    async with socket(f"/ws/events/?after=2&epoch={'a' * 12}", headers=bearer(alice_token)) as comm:
        hello = await receive(comm)
        assert await receive(comm) == {"type": "resync", "seq": 2, "epoch": hello["epoch"], "after": 2}
        assert await receive_seqs(comm, 2) == [1, 2]
        await comm.send_json_to({"type": "resume", "after": 2, "epoch": hello["epoch"]})
        assert await comm.receive_nothing(timeout=0.2)  # the same epoch: nothing missed
        await comm.send_json_to({"type": "resume", "after": 1, "epoch": "b" * 12})
        assert (await receive(comm))["type"] == "resync"
        assert await receive_seqs(comm, 2) == [1, 2]


@pytest.mark.parametrize("query", ["after=1&epoch=NOT-AN-EPOCH", f"after=1&epoch={'a' * 33}"])
async def test_a_malformed_epoch_gets_an_error_frame(alice, alice_token, query):
    async with socket(f"/ws/events/?{query}", headers=bearer(alice_token)) as comm:
        assert (await receive(comm))["type"] == "hello"
        assert (await receive(comm))["code"] == "bad_resume"
        await comm.send_json_to({"type": "resume", "after": 0, "epoch": 7})
        assert (await receive(comm))["code"] == "bad_resume"
