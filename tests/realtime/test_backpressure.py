"""Which socket a scope's ``client`` address names, for the replay's pacing (``drained``)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest

from realtime import backpressure
from realtime.backpressure import buffered_for, track, untrack
from realtime.weaklists import WeakLists


@pytest.fixture(autouse=True)
def no_sockets(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(backpressure, "_open", WeakLists())
    yield


class FakeProtocol:
    def __init__(self, client_addr: Any, unsent: int) -> None:
        self.client_addr = client_addr
        self.transport = type("T", (), {"dataBuffer": b"x" * unsent, "offset": 0, "_tempDataLen": 0})()


def test_the_unsent_bytes_of_the_one_socket_at_an_address() -> None:
    socket = FakeProtocol(["10.0.0.1", 5001], unsent=300)
    track(socket)
    assert buffered_for(["10.0.0.1", 5001]) == 300
    untrack(socket)
    assert buffered_for(["10.0.0.1", 5001]) is None


def test_two_sockets_behind_one_address_are_ambiguous_until_one_closes() -> None:
    first, second = FakeProtocol(["10.0.0.2", 80], unsent=1), FakeProtocol(["10.0.0.2", 80], unsent=2)
    track(first)
    track(second)
    assert buffered_for(["10.0.0.2", 80]) is None
    untrack(first)
    assert buffered_for(["10.0.0.2", 80]) == 2
    untrack(second)


def test_a_socket_that_is_gone_without_closing_is_not_kept_alive() -> None:
    socket = FakeProtocol(["10.0.0.3", 5003], unsent=5)
    track(socket)
    assert buffered_for(["10.0.0.3", 5003]) == 5
    del socket
    gc.collect()
    assert buffered_for(["10.0.0.3", 5003]) is None


def test_a_socket_without_an_address_is_not_tracked() -> None:
    track(FakeProtocol(None, unsent=1))
    assert not backpressure._open
