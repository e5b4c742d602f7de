"""Keepalive pings: each socket on its own timer, at a random phase of the interval.

daphne pings sockets from one loop over all of them every 2 seconds, so sockets that
connected together were pinged together, holding frames behind them (docs/internals.md,
"autobahn's ping"). No socket is pinged later than ``--ping-interval`` after it went quiet,
and a socket that sends frames (as coucou.js does) is not pinged at all. Applied by
``CoucouWebSocketProtocol`` (``realtime/ws_protocol.py``).
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
        protocol._sendAutoPing()  # what daphne's own loop calls: the ping and its timeout
        protocol.last_ping = time.time()
    schedule(protocol)


def cancel(protocol: Any) -> None:
    call = protocol._coucou_ping
    if call is not None and call.active():
        call.cancel()
    protocol._coucou_ping = None
