"""Coucou's daphne protocol: the 4008 slow-reader limit and the ping timers, on fakes.

The socket's transport is a Twisted ``FileDescriptor`` without a socket, so what it buffers
is what Twisted itself counts; daphne and autobahn run their own code around it.
"""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

import pytest
from twisted.internet import reactor
from twisted.internet.abstract import FileDescriptor

from realtime import backpressure, pings
from realtime.backpressure import Limits
from realtime.protocol import CLOSE_SLOW_READER
from realtime.weaklists import WeakLists
from realtime.ws_protocol import CoucouWebSocketProtocol

LIMITS = Limits(soft_bytes=1000, hard_bytes=8000, grace_s=10.0, close_timeout_s=5.0)


class Unsent(FileDescriptor):
    """A transport whose peer reads nothing: everything written stays in Twisted's buffer."""

    connected = 1

    def __init__(self) -> None:
        super().__init__(reactor=object())  # type: ignore[arg-type]  # never asked

    def startWriting(self) -> None:
        pass


class Server(SimpleNamespace):
    def __init__(self) -> None:
        super().__init__(ping_interval=20.0, disconnected=[], actions=[])

    def protocol_disconnected(self, protocol: Any) -> None:
        self.disconnected.append(protocol)

    def log_action(self, kind: str, action: str, details: Any) -> None:
        self.actions.append(action)


@pytest.fixture(autouse=True)
def limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(CoucouWebSocketProtocol, "limits", LIMITS, raising=False)
    monkeypatch.setattr(backpressure, "_open", WeakLists())


class Call:
    def __init__(self, pending: list[Call], delay: float, function: Any, *args: Any, **kwargs: Any) -> None:
        self.pending, self.delay, self.function = pending, delay, function
        self.args, self.kwargs = args, kwargs

    def active(self) -> bool:
        return self in self.pending

    def cancel(self) -> None:
        self.pending.remove(self)


@pytest.fixture
def timers(monkeypatch: pytest.MonkeyPatch) -> list[Call]:
    scheduled: list[Call] = []

    def call_later(delay: float, function: Any, *args: Any, **kwargs: Any) -> Call:
        scheduled.append(Call(scheduled, delay, function, *args, **kwargs))
        return scheduled[-1]

    monkeypatch.setattr(pings, "_call_later", call_later)
    monkeypatch.setattr(reactor, "callLater", call_later)
    return scheduled


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The protocol's monotonic clock, moved by hand: ``clock[0] += seconds``."""
    now = [1000.0]
    monkeypatch.setattr("realtime.ws_protocol.time.monotonic", lambda: now[0])
    return now


def make_socket(*, transport: Any = None) -> CoucouWebSocketProtocol:
    socket = CoucouWebSocketProtocol()
    socket.transport = Unsent() if transport is None else transport
    socket.server = Server()
    socket.client_addr = ["10.0.0.9", 5009]
    socket.request = SimpleNamespace(path="/ws/events/")
    socket.state = socket.STATE_OPEN
    socket.sent = []
    socket.sendMessage = lambda payload, binary: socket.sent.append(payload)
    socket.closed = []
    socket.sendClose = lambda code, reason: socket.closed.append(code)
    socket.dropped = []
    socket.dropConnection = lambda abort=False: socket.dropped.append(abort)
    return socket


def test_frames_go_out_while_the_client_keeps_up(timers) -> None:
    socket = make_socket()
    socket.transport.write(b"x" * 900)  # under the soft limit
    socket.serverSend("a frame")
    assert socket.sent == [b"a frame"] and socket.closed == []


def test_past_the_hard_limit_the_socket_is_closed_4008_then_dropped(timers, caplog) -> None:
    socket = make_socket()
    socket.transport.write(b"x" * 8001)
    with caplog.at_level(logging.WARNING, logger="realtime.ws_protocol"):
        socket.serverSend("a frame")
        socket.serverSend("another")
    assert socket.sent == [] and socket.closed == [CLOSE_SLOW_READER]
    assert "closing slow reader ['10.0.0.9', 5009] with 4008: 8001 bytes unsent" in caplog.text
    [drop] = timers
    assert drop.delay == LIMITS.close_timeout_s
    drop.function(*drop.args, **drop.kwargs)
    assert socket.dropped == [True]


def test_over_the_soft_limit_a_socket_gets_the_grace_period(timers, clock) -> None:
    socket = make_socket()
    socket.transport.write(b"x" * 2000)
    socket.serverSend("first")
    clock[0] += LIMITS.grace_s
    socket.serverSend("still within the grace period")
    assert len(socket.sent) == 2 and socket.closed == []
    clock[0] += 0.1
    socket.serverSend("past it")
    assert len(socket.sent) == 2 and socket.closed == [CLOSE_SLOW_READER]


def test_a_socket_back_under_the_soft_limit_starts_a_new_grace_period(timers, clock) -> None:
    socket = make_socket()
    socket.transport.write(b"x" * 2000)
    socket.serverSend("over")
    socket.transport.offset = 1500  # the kernel took most of it: 500 bytes left
    clock[0] += 9
    socket.serverSend("under")
    socket.transport.write(b"x" * 2000)
    clock[0] += 9  # 18 s since it first went over, 9 s since it was last under
    socket.serverSend("over again")
    assert len(socket.sent) == 3 and socket.closed == []


def test_an_open_socket_is_tracked_and_pinged_until_it_closes(timers) -> None:
    socket = make_socket()
    socket.transport.write(b"x" * 300)
    socket.onOpen()
    assert backpressure.buffered_for(["10.0.0.9", 5009]) == 300
    [ping] = timers
    assert 0 <= ping.delay <= 20.0 and (ping.function, ping.args) == (pings.ping_if_due, (socket,))
    assert socket.server.actions == ["connected"]  # daphne's own onOpen ran
    socket.onClose(True, 1000, None)
    assert timers == [] and backpressure.buffered_for(["10.0.0.9", 5009]) is None
    assert socket.server.disconnected == [socket]  # and daphne's own onClose


def test_a_socket_whose_unsent_bytes_cannot_be_read_is_refused(timers, caplog) -> None:
    socket = make_socket(transport=SimpleNamespace())  # e.g. a TLS wrapper
    with caplog.at_level(logging.ERROR, logger="realtime.ws_protocol"):
        socket.onOpen()
    assert socket.dropped == [True] and timers == []
    assert backpressure.buffered_for(["10.0.0.9", 5009]) is None
    assert "slow-reader limit cannot hold" in caplog.text
