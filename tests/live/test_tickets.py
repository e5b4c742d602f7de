"""The cross-origin flow on real processes: a backend gets a ticket with its bearer token,
a page's socket redeems it once, from an origin listed in CSRF_TRUSTED_ORIGINS."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websockets
from websockets.exceptions import ConnectionClosedError, InvalidStatus

from tests.conftest import ANY_EPOCH
from tests.live.harness import Stack, frames_until, job_ended, recv_json, running_stack

pytestmark = pytest.mark.asyncio

TRUSTED = "https://app.example"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(Path(tmp_path_factory.mktemp("stack")), CSRF_TRUSTED_ORIGINS=TRUSTED) as live:
        yield live


async def new_ticket(stack: Stack, token: str) -> str:
    async with stack.http(token) as http:
        response = await http.post("/api/realtime/ticket")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["expires_in"] == 60
    return body["ticket"]


def socket(stack: Stack, ticket: str, *, origin: str | None = None, after: int | None = None) -> Any:
    query = f"?ticket={ticket}" + (f"&after={after}" if after is not None else "")
    return websockets.connect(f"ws://127.0.0.1:{stack.port}/ws/events/{query}", origin=origin)


async def assert_closed_4401(stack: Stack, ticket: str, **kwargs: Any) -> None:
    async with socket(stack, ticket, **kwargs) as ws:
        with pytest.raises(ConnectionClosedError) as closed:
            await recv_json(ws)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


async def test_a_ticket_opens_one_socket_from_a_trusted_origin_then_is_refused(stack: Stack) -> None:
    token = stack.token("gaspard")
    ticket = await new_ticket(stack, token)
    async with socket(stack, ticket, origin=TRUSTED) as ws, stack.http(token) as http:
        assert (await recv_json(ws))["type"] == "hello"
        job = (await http.post("/api/coucou")).json()
        frames = await frames_until(ws, job_ended(job["id"]))
        assert [f["data"] for f in frames if f["type"] == "coucou"] == [{"message": "coucou gaspard"}]

    await assert_closed_4401(stack, ticket, origin=TRUSTED)


async def test_a_ticket_works_without_origin_and_resumes_with_after(stack: Stack) -> None:
    token = stack.token("hortense")
    async with socket(stack, await new_ticket(stack, token)) as ws, stack.http(token) as http:
        await recv_json(ws)
        job = (await http.post("/api/coucou")).json()
        latest = (await frames_until(ws, job_ended(job["id"])))[-1]["seq"]
    async with socket(stack, await new_ticket(stack, token), after=latest - 2) as ws:
        assert (await recv_json(ws)) == {"type": "hello", "seq": latest, "epoch": ANY_EPOCH}
        assert [(await recv_json(ws))["seq"] for _ in range(2)] == [latest - 1, latest]


async def test_a_foreign_origin_is_refused_and_does_not_spend_the_ticket(stack: Stack) -> None:
    token = stack.token("ines")
    ticket = await new_ticket(stack, token)
    with pytest.raises(InvalidStatus) as refused:
        async with socket(stack, ticket, origin="https://evil.example"):
            pass
    assert refused.value.response.status_code == 403
    async with socket(stack, ticket, origin=TRUSTED) as ws:
        assert (await recv_json(ws))["type"] == "hello"


async def test_an_expired_or_made_up_ticket_is_closed_with_4401(stack: Stack) -> None:
    ticket = await new_ticket(stack, stack.token("jules"))
    redis = stack.redis_client()
    key = f"coucou:ticket:{hashlib.sha256(ticket.encode()).hexdigest()}"
    assert 0 < redis.ttl(key) <= 60
    redis.delete(key)  # what expiry does after 60 s
    redis.close()
    await assert_closed_4401(stack, ticket)
    await assert_closed_4401(stack, "cwt_made-up")


async def test_the_ticket_endpoint_needs_credentials(stack: Stack) -> None:
    async with stack.http() as http:
        response = await http.post("/api/realtime/ticket")
    assert response.status_code == 401
