from __future__ import annotations

import statistics
import time
from types import SimpleNamespace

from daphne.ws_protocol import WebSocketProtocol

import config.asgi  # noqa: F401 - installs the patch, as the web process does
from realtime.pings import spread


def test_the_web_process_spreads_daphnes_pings() -> None:
    assert getattr(WebSocketProtocol, "_coucou_spread_pings", False)


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
