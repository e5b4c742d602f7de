"""The socket side's Prometheus metrics, served by the web process's ``/metrics`` (config/metrics.py).

The children a hot path touches (every frame sent, every live event) are bound here once:
``.labels()`` looks its child up under a lock, several times the cost of the ``inc()`` itself.
Labels are closed sets (auth kinds, close codes), never anything a client sends.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from realtime import protocol

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
