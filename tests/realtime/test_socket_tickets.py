"""``?ticket=`` on the events socket: one socket per ticket, for pages on another origin."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.test import Client

from config.asgi import application
from realtime import tickets
from tests.conftest import ANY_EPOCH

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("redis_db"),
]


async def issue(user: Any) -> str:
    return await asyncio.to_thread(tickets.issue, user.pk)


async def open_socket(
    query: str, headers: list[tuple[bytes, bytes]] | None = None
) -> tuple[WebsocketCommunicator, Any]:
    comm = WebsocketCommunicator(application, f"/ws/events/?{query}", headers=headers or [])
    connected, _ = await comm.connect(timeout=3)
    assert connected
    return comm, await comm.receive_output(timeout=3)


async def test_a_ticket_authenticates_one_socket_without_origin(alice):
    ticket = await issue(alice)
    comm, first = await open_socket(f"ticket={ticket}")
    assert first["type"] == "websocket.send"
    assert json.loads(first["text"]) == {"type": "hello", "seq": 0, "epoch": ANY_EPOCH}
    await comm.disconnect()


async def test_a_used_ticket_is_closed_with_4401(alice):
    ticket = await issue(alice)
    comm, _ = await open_socket(f"ticket={ticket}")
    await comm.disconnect()
    again, first = await open_socket(f"ticket={ticket}")
    assert first == {"type": "websocket.close", "code": 4401}
    await again.disconnect()


@pytest.mark.parametrize("query", ["ticket=", "ticket=cwt_nope", "ticket=nope&after=0"])
async def test_an_unknown_ticket_is_closed_with_4401(alice, query):
    comm, first = await open_socket(query)
    assert first == {"type": "websocket.close", "code": 4401}
    await comm.disconnect()


async def test_a_bad_ticket_is_not_rescued_by_a_session_cookie(alice):
    client = Client()
    await asyncio.to_thread(client.force_login, alice)
    headers = [
        (b"origin", b"http://localhost"),
        (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()),
    ]
    comm, first = await open_socket("ticket=cwt_nope", headers)
    assert first == {"type": "websocket.close", "code": 4401}
    await comm.disconnect()


async def test_a_ticket_for_an_inactive_user_is_refused(alice):
    ticket = await issue(alice)
    alice.is_active = False
    await asyncio.to_thread(alice.save, update_fields=["is_active"])
    comm, first = await open_socket(f"ticket={ticket}")
    assert first == {"type": "websocket.close", "code": 4401}
    await comm.disconnect()


async def test_a_ticket_from_a_foreign_origin_is_refused_at_handshake_unless_trusted(alice, settings):
    headers = [(b"origin", b"https://app.example")]
    comm = WebsocketCommunicator(application, f"/ws/events/?ticket={await issue(alice)}", headers=headers)
    connected, _ = await comm.connect(timeout=3)
    assert not connected
    await comm.disconnect()

    settings.CSRF_TRUSTED_ORIGINS = ["https://app.example"]
    comm, first = await open_socket(f"ticket={await issue(alice)}", headers)
    assert json.loads(first["text"]) == {"type": "hello", "seq": 0, "epoch": ANY_EPOCH}
    await comm.disconnect()


async def test_a_ticket_and_after_resume_together(alice):
    from realtime import publish

    for i in range(3):
        await asyncio.to_thread(publish, alice.pk, "coucou", {"i": i})
    comm, hello = await open_socket(f"ticket={await issue(alice)}&after=1")
    assert json.loads(hello["text"]) == {"type": "hello", "seq": 3, "epoch": ANY_EPOCH}
    assert [(await comm.receive_json_from(timeout=3))["seq"] for _ in range(2)] == [2, 3]
    await comm.disconnect()
