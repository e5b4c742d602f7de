from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator

from config.asgi import application


@pytest.fixture(autouse=True)
def _fast_password_hashing(fast_password_hashing: None) -> None:
    pass


@pytest.fixture
def no_public_namespace() -> Iterator[None]:
    """No namespace is public (as when no installed app declares one): a socket without
    credentials is refused with 4401."""
    from realtime import namespaces

    saved = dict(namespaces._registry)
    for name in [name for name, declared in saved.items() if declared.public]:
        del namespaces._registry[name]
    yield
    namespaces._registry.clear()
    namespaces._registry.update(saved)


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
