"""Keepalive pings: each socket on its own timer, at a random phase of the interval.

daphne pings a socket when nothing came from it for ``--ping-interval`` seconds, from a
loop over every socket every 2 seconds. Sockets that connected together (a deploy, a
restart, a benchmark) were then pinged together: with 1,000 sockets, 1,000 pings every 20 s,
which held every frame behind them for 50-70 ms. A random phase per socket spread them over
the interval, but daphne's loop still sent them in batches, a tenth of the sockets every
2 s: 7-13 ms of the event loop each time, which decided the p99 at 200 events/s
(bench/RESULTS.md). Here each socket is pinged by a timer of its own when it is due, one at
a time; daphne's loop still runs and finds every socket pinged on time. No socket is pinged
later than ``--ping-interval`` after it went quiet, and a socket that sends frames (as
coucou.js does) is not pinged at all.
"""

from __future__ import annotations

import random
import time
from typing import Any


def spread(protocol: Any) -> None:
    """As if the socket's last ping went out some time within the last interval: its first
    ping comes sooner than daphne would send it, never later."""
    phase = random.uniform(0, protocol.server.ping_interval)  # noqa: S311 - a phase, not a secret
    protocol.last_ping = time.time() - phase


def _call_later(delay: float, function: Any, *args: Any) -> Any:
    from twisted.internet import reactor

    call_later: Any = reactor.callLater  # the stubs type the module as its interface
    return call_later(delay, function, *args)


def _due_in(protocol: Any) -> float:
    return float(protocol.last_ping + protocol.server.ping_interval - time.time())


def schedule(protocol: Any) -> None:
    protocol._coucou_ping = _call_later(max(0.0, _due_in(protocol)), ping_if_due, protocol)


def ping_if_due(protocol: Any) -> None:
    protocol._coucou_ping = None
    if protocol.state != protocol.STATE_OPEN:
        return
    if _due_in(protocol) <= 0:  # daphne moves last_ping on every frame from the client
        protocol._sendAutoPing()
        protocol.last_ping = time.time()
    schedule(protocol)


def cancel(protocol: Any) -> None:
    call = getattr(protocol, "_coucou_ping", None)
    if call is not None and call.active():
        call.cancel()
    protocol._coucou_ping = None


def install() -> None:
    from daphne.ws_protocol import WebSocketProtocol

    if getattr(WebSocketProtocol, "_coucou_pings", False):
        return
    original_open = WebSocketProtocol.onOpen
    original_close = WebSocketProtocol.onClose

    def onOpen(self: Any) -> None:
        original_open(self)
        spread(self)
        schedule(self)

    def onClose(self: Any, wasClean: bool, code: int, reason: str) -> None:
        cancel(self)
        original_close(self, wasClean, code, reason)

    WebSocketProtocol.onOpen = onOpen
    WebSocketProtocol.onClose = onClose
    WebSocketProtocol._coucou_pings = True
