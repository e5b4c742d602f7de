"""Spread daphne's keepalive pings over the ping interval.

daphne pings a socket when nothing came from it for ``--ping-interval`` seconds, checking
every socket once a second. Sockets that connected together (a deploy, a restart, a
benchmark) are then pinged together forever: with 1,000 sockets that is a burst of 1,000
pings and pongs every 20 s, which held every frame behind it for 50-70 ms here
(bench/RESULTS.md). Starting each socket's ping clock at a random phase spreads the pings
over the interval; no socket is pinged later than ``--ping-interval`` after it went quiet.
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


def install() -> None:
    from daphne.ws_protocol import WebSocketProtocol

    if getattr(WebSocketProtocol, "_coucou_spread_pings", False):
        return
    original_open = WebSocketProtocol.onOpen

    def onOpen(self: Any) -> None:
        original_open(self)
        spread(self)

    WebSocketProtocol.onOpen = onOpen
    WebSocketProtocol._coucou_spread_pings = True
