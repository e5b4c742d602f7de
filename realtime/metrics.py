"""The socket side's Prometheus metrics, served by the web process's ``/metrics`` (config/metrics.py).

The children a hot path touches (every frame sent, every live event) are bound here once:
``.labels()`` looks its child up under a lock, several times the cost of the ``inc()`` itself.
Labels are closed sets (auth kinds, close codes), never anything a client sends.

With ``METRICS_ENABLED`` off (read once, here) every metric is a stand-in that records
nothing (``collecting``, which jobs/metrics.py uses too): the bound children stay bound, so a
hot path makes the same calls either way, into an empty method.
"""

from __future__ import annotations

from typing import Any, TypeVar, cast

import prometheus_client
from django.conf import settings

from realtime import protocol

ENABLED: bool = settings.METRICS_ENABLED
M = TypeVar("M")


class _Off:
    """A metric, and its children, that records nothing."""

    __slots__ = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def labels(self, *values: Any, **labels: Any) -> _Off:
        return self

    def inc(self, amount: float = 1) -> None:
        pass

    def dec(self, amount: float = 1) -> None:
        pass

    def set(self, value: float) -> None:
        pass

    def observe(self, amount: float) -> None:
        pass


def collecting(metric: type[M]) -> type[M]:
    """``metric`` (a prometheus_client class), or with ``METRICS_ENABLED`` off a stand-in."""
    return metric if ENABLED else cast("type[M]", _Off)


Counter = collecting(prometheus_client.Counter)
Gauge = collecting(prometheus_client.Gauge)
Histogram = collecting(prometheus_client.Histogram)

AUTH_KINDS = ("session", "bearer", "ticket", "anonymous")

open_sockets = Gauge(
    "coucou_ws_open_sockets",
    "WebSockets open now, by how they authenticated.",
    ["auth"],
    multiprocess_mode="livesum",
)
OPEN = {kind: open_sockets.labels(kind) for kind in AUTH_KINDS}

handshakes_refused = Counter(
    "coucou_ws_handshakes_refused",
    "WebSocket handshakes refused, by close code (403: an Origin not allowed).",
    ["code"],
)
REFUSED_ORIGIN = handshakes_refused.labels("403")
REFUSED_UNAUTHENTICATED = handshakes_refused.labels(str(protocol.CLOSE_UNAUTHENTICATED))
REFUSED_TOO_MANY = handshakes_refused.labels(str(protocol.CLOSE_FLOOD))
REFUSED_TRY_AGAIN = handshakes_refused.labels(str(protocol.CLOSE_TRY_AGAIN))

frames_sent = Counter(
    "coucou_ws_frames_sent", "Frames sent to WebSockets: events, replays and control frames."
)

replays = Counter(
    "coucou_ws_replays",
    "Replays a client asked for: ?after= on connect, a resume frame, a subscribe with after.",
)
gap_repairs = Counter(
    "coucou_ws_gap_repairs",
    "Replays the server started to fill a hole: a live frame past the next seq or of another "
    "epoch (live), or the periodic sweep finding a stream ahead of a socket (sweep).",
    ["trigger"],
)
GAP_LIVE = gap_repairs.labels("live")
GAP_SWEEP = gap_repairs.labels("sweep")

resyncs = Counter(
    "coucou_ws_resyncs", "resync frames sent: the asked-for history is gone or another epoch's."
)

closes = Counter(
    "coucou_ws_closes",
    "Open sockets the server closed: 4008 slow reader, 4429 too many client frames.",
    ["code"],
)
CLOSED_SLOW = closes.labels(str(protocol.CLOSE_SLOW_READER))
CLOSED_FLOOD = closes.labels(str(protocol.CLOSE_FLOOD))

publish_to_send = Histogram(
    "coucou_ws_publish_to_send_seconds",
    "From an event's publish (its ts, the publisher's clock) to its live frame's send on a socket.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
