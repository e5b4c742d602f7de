"""realtime.send_transient: frames that every socket of one user gets live, outside its numbered stream."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from realtime import publish, send_transient
from realtime.transient import transient_message
from tests.realtime.conftest import bearer, receive, socket

ON_SOCKETS = (
    pytest.mark.asyncio,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("redis_db"),
)


def on_sockets(test: Any) -> Any:
    for mark in ON_SOCKETS:
        test = mark(test)
    return test


def token_of(user: Any) -> str:
    from api.tokens import create_token

    return create_token(user=user)


async def output(user: Any, offset: int, text: str, closed: bool = False) -> int:
    frame = {"job": "j1", "key": "text", "offset": offset, "text": text, "closed": closed}
    return await asyncio.to_thread(send_transient, user.pk, "output", frame)


@on_sockets
async def test_every_socket_of_the_owner_gets_output_frames_in_order_and_no_one_else(alice, bob):
    alice_token, bob_token = await asyncio.to_thread(token_of, alice), await asyncio.to_thread(token_of, bob)
    async with (
        socket(headers=bearer(alice_token)) as tab1,
        socket(headers=bearer(alice_token)) as tab2,
        socket(headers=bearer(bob_token)) as other,
    ):
        hellos = [await receive(comm) for comm in (tab1, tab2, other)]
        assert [h["type"] for h in hellos] == ["hello"] * 3
        offset = 0
        for i in range(50):
            text = f"mot{i} é "
            assert await output(alice, offset, text, closed=i == 49) == 1  # one web process heard it
            offset += len(text.encode())
        for tab in (tab1, tab2):
            frames = [await receive(tab) for _ in range(50)]
            assert [f["type"] for f in frames] == ["output"] * 50
            assert all("seq" not in f for f in frames)
            assert "".join(f["text"] for f in frames) == "".join(f"mot{i} é " for i in range(50))
            assert frames[1] == {
                "type": "output", "job": "j1", "key": "text", "offset": 8, "text": "mot1 é ", "closed": False,
            }  # fmt: skip
            assert frames[-1]["closed"] is True
        # Bob's socket heard none of it: his next frame is his own event.
        await asyncio.to_thread(publish, bob.pk, "coucou", {"message": "bob"})
        assert (await receive(other))["data"] == {"message": "bob"}


@on_sockets
async def test_output_frames_take_no_seq_in_the_owners_history(alice):
    token = await asyncio.to_thread(token_of, alice)
    first = await asyncio.to_thread(publish, alice.pk, "coucou", {})
    async with socket(headers=bearer(token)) as comm:
        assert (await receive(comm))["seq"] == first
        await output(alice, 0, "bonjour")
        assert (await receive(comm))["text"] == "bonjour"
        seq = await asyncio.to_thread(publish, alice.pk, "coucou", {})
        assert seq == first + 1
        assert (await receive(comm))["seq"] == seq
    async with socket(f"/ws/events/?after={first - 1}", headers=bearer(token)) as comm:
        await receive(comm)  # hello
        replayed = [await receive(comm) for _ in range(2)]
        assert [f["seq"] for f in replayed] == [first, seq]  # the output is not replayed


@pytest.mark.parametrize("type", ["hello", "resync", "error", "pong"])
def test_a_transient_frame_may_not_pass_for_a_control_frame(type):
    with pytest.raises(ValueError):
        transient_message(type, {})


@pytest.mark.parametrize("field", ["seq", "channel", "type"])
def test_a_transient_frame_may_not_carry_a_stream_field(field):
    with pytest.raises(ValueError):
        transient_message("output", {field: 1})
