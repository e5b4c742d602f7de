from __future__ import annotations

import statistics
import time
from types import SimpleNamespace
from typing import Any

import pytest
from daphne.ws_protocol import WebSocketFactory

import config.asgi  # noqa: F401 - installs Coucou's protocol class, as the web process does
from realtime import pings
from realtime.pings import cancel, ping_if_due, schedule, spread
from realtime.ws_protocol import CoucouWebSocketProtocol

OPEN, CLOSED = 1, 3


class FakeCall:
    def __init__(self, delay: float, function: Any, *args: Any) -> None:
        self.delay, self.function, self.args, self.cancelled = delay, function, args, False

    def active(self) -> bool:
        return not self.cancelled

    def cancel(self) -> None:
        self.cancelled = True


class FakeSocket:
    STATE_OPEN = OPEN

    def __init__(self, *, quiet_for: float, interval: float = 20.0) -> None:
        self.server = SimpleNamespace(ping_interval=interval)
        self.state = OPEN
        self.last_ping = time.time() - quiet_for
        self.pings = 0
        self._coucou_ping: Any = None

    def _sendAutoPing(self) -> None:
        self.pings += 1


@pytest.fixture
def timers(monkeypatch: pytest.MonkeyPatch) -> list[FakeCall]:
    scheduled: list[FakeCall] = []

    def call_later(delay: float, function: Any, *args: Any) -> FakeCall:
        scheduled.append(FakeCall(delay, function, *args))
        return scheduled[-1]

    monkeypatch.setattr(pings, "_call_later", call_later)
    return scheduled


def test_the_web_process_pings_sockets_on_their_own_timers() -> None:
    assert WebSocketFactory.protocol is CoucouWebSocketProtocol


def test_sockets_opened_together_get_ping_clocks_spread_over_the_interval() -> None:
    sockets = [SimpleNamespace(server=SimpleNamespace(ping_interval=20.0)) for _ in range(500)]
    now = time.time()
    for socket in sockets:
        spread(socket)
    ages = [now - socket.last_ping for socket in sockets]
    # No socket waits longer than the interval for its first ping; together they cover it.
    assert all(-0.5 < age <= 20.0 for age in ages)
    assert min(ages) < 2 and max(ages) > 18
    assert 8 < statistics.mean(ages) < 12


def test_a_quiet_socket_is_pinged_when_due_then_again_one_interval_later(timers) -> None:
    socket = FakeSocket(quiet_for=15)
    schedule(socket)
    assert 4.5 < timers[-1].delay <= 5.0 and socket.pings == 0
    socket.last_ping -= 5  # the timer fires: 20 s of silence
    ping_if_due(socket)
    assert socket.pings == 1
    assert 19.5 < timers[-1].delay <= 20.0


def test_a_socket_that_sent_a_frame_meanwhile_is_not_pinged(timers) -> None:
    socket = FakeSocket(quiet_for=20)
    socket.last_ping = time.time() - 3  # daphne moves it on each frame from the client
    ping_if_due(socket)
    assert socket.pings == 0
    assert 16.5 < timers[-1].delay <= 17.0


def test_a_closed_socket_is_neither_pinged_nor_rescheduled(timers) -> None:
    socket = FakeSocket(quiet_for=5)
    schedule(socket)
    timer = timers[-1]
    cancel(socket)
    assert timer.cancelled
    socket.state = CLOSED
    socket.last_ping -= 60
    ping_if_due(socket)  # a timer that fired as the socket closed
    assert socket.pings == 0 and len(timers) == 1
