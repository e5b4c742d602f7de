"""A bound on what daphne buffers for a socket that stopped reading.

ASGI has no backpressure: daphne writes every frame into Twisted's transport buffer, which
grows without limit while a client does not read. Installed from ``config/asgi.py``, this
checks the buffer before each frame, with limits modelled on Redis's own output-buffer
limits: past the hard limit, or above the soft limit for longer than the grace period, it
stops sending and queues a close with code 4008 ("slow reader"). A client that still does not
read never sees that frame: the connection is dropped when the close handshake times out. A
client that is merely slower than a burst for a moment keeps its socket. A closed client
reconnects with ``?after=`` and loses nothing.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from realtime.protocol import CLOSE_SLOW_READER

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limits:
    soft_bytes: int
    hard_bytes: int
    grace_s: float
    close_timeout_s: float


def buffered_bytes(transport: Any) -> int:
    # Twisted's FileDescriptor keeps written-but-unsent data in these attributes.
    try:
        return len(transport.dataBuffer) - transport.offset + transport._tempDataLen
    except AttributeError:
        return 0


def too_slow(protocol: Any, limits: Limits, now: float) -> bool:
    buffered = buffered_bytes(protocol.transport)
    if buffered > limits.hard_bytes:
        return True
    if buffered <= limits.soft_bytes:
        protocol._coucou_over_since = None
        return False
    since = getattr(protocol, "_coucou_over_since", None)
    if since is None:
        protocol._coucou_over_since = now
        return False
    return now - since > limits.grace_s


def install(limits: Limits) -> None:
    from daphne.ws_protocol import WebSocketProtocol
    from twisted.internet import reactor

    if getattr(WebSocketProtocol, "_coucou_bounded", False):
        return
    original = WebSocketProtocol.serverSend

    def serverSend(self: Any, content: Any, binary: bool = False) -> None:
        if getattr(self, "_coucou_closing", False):
            return
        if too_slow(self, limits, time.monotonic()):
            self._coucou_closing = True
            logger.warning(
                "closing slow reader %s with %d: %d bytes unsent",
                self.client_addr, CLOSE_SLOW_READER, buffered_bytes(self.transport),
            )  # fmt: skip
            self.sendClose(code=CLOSE_SLOW_READER, reason="slow reader: reconnect with ?after=")
            # twisted's stubs type the reactor module as its interface, hence the ignore
            reactor.callLater(
                limits.close_timeout_s, self.dropConnection, abort=True  # type: ignore[arg-type]
            )
            return
        original(self, content, binary)

    WebSocketProtocol.serverSend = serverSend
    WebSocketProtocol._coucou_bounded = True
