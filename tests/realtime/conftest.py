from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator

from config.asgi import application


@pytest.fixture(autouse=True)
def _fast_password_hashing(fast_password_hashing: None) -> None:
    pass


def bearer(token: str) -> list[tuple[bytes, bytes]]:
    return [(b"authorization", b"Bearer " + token.encode())]


@asynccontextmanager
async def socket(path: str = "/ws/events/", *, headers: Any = None) -> AsyncIterator[WebsocketCommunicator]:
    comm = WebsocketCommunicator(application, path, headers=headers)
    connected, _ = await comm.connect(timeout=3)
    assert connected
    try:
        yield comm
    finally:
        await comm.disconnect()


async def receive(comm: WebsocketCommunicator) -> dict[str, Any]:
    return await comm.receive_json_from(timeout=3)
