"""daphne's WebSocket protocol with Coucou's two additions to every socket: a bound on what a
reader that stopped reading makes daphne buffer (``realtime/backpressure.py``), and
keepalive pings on a timer of its own (``realtime/pings.py``).

``install()`` (``config/asgi.py``) makes it the class daphne builds for each socket, through
``WebSocketFactory.protocol``: the attribute Twisted's ``Factory.buildProtocol`` instantiates
(docs/internals.md, "daphne's protocol class").
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any, ClassVar

from daphne.ws_protocol import WebSocketFactory, WebSocketProtocol
from twisted.internet.abstract import FileDescriptor

from realtime import backpressure, pings
from realtime.backpressure import Limits
from realtime.protocol import CLOSE_SLOW_READER

logger = logging.getLogger(__name__)


class CoucouWebSocketProtocol(WebSocketProtocol):
    limits: ClassVar[Limits]  # set by install()
    _coucou_over_since: float | None = None  # above the soft limit since (time.monotonic())
    _coucou_closing = False  # judged a slow reader: nothing more is sent
    _coucou_ping: Any = None  # the pending ping timer (an IDelayedCall)

    def onOpen(self) -> None:
        if not isinstance(self.transport, FileDescriptor):
            # Its unsent bytes cannot be read: refuse it rather than leave it unbounded.
            logger.error(
                "dropping socket %s: its transport %r keeps no write buffer Coucou can read, so the "
                "slow-reader limit cannot hold (docs/internals.md, \"Twisted's write buffer\")",
                self.client_addr, self.transport,
            )  # fmt: skip
            self.dropConnection(abort=True)
            return
        backpressure.track(self)
        super().onOpen()
        pings.spread(self)
        pings.schedule(self)

    def onClose(self, wasClean: bool, code: int | None, reason: str | None) -> None:
        pings.cancel(self)
        backpressure.untrack(self)
        super().onClose(wasClean, code, reason)

    def serverSend(self, content: str | bytes, binary: bool = False) -> None:
        if self._coucou_closing:
            return
        if backpressure.too_slow(self, self.limits, time.monotonic()):
            self._close_slow_reader()
            return
        super().serverSend(content, binary)

    def _close_slow_reader(self) -> None:
        from twisted.internet import reactor  # daphne's: installed when daphne.server is imported

        self._coucou_closing = True
        logger.warning(
            "closing slow reader %s with %d: %d bytes unsent",
            self.client_addr, CLOSE_SLOW_READER, backpressure.buffered_bytes(self.transport),
        )  # fmt: skip
        self.sendClose(code=CLOSE_SLOW_READER, reason="slow reader: reconnect with ?after=")
        # A client that does not read cannot read the close frame either.
        drop_later: Any = reactor.callLater  # the stubs type the module as its interface
        drop_later(self.limits.close_timeout_s, self.dropConnection, abort=True)


def install(limits: Limits) -> None:
    """Make daphne build every socket as a ``CoucouWebSocketProtocol`` bounded by ``limits``.

    Raises at start-up if Twisted's write buffer no longer reads as Coucou reads it, or if
    daphne's server no longer builds its sockets from ``daphne.ws_protocol.WebSocketFactory``.
    """
    backpressure.check_buffer_reading()
    server = sys.modules.get("daphne.server")  # imported by daphne's command before the app
    if server is not None and getattr(server, "WebSocketFactory", None) is not WebSocketFactory:
        raise RuntimeError(
            "daphne.server no longer builds its sockets with daphne.ws_protocol.WebSocketFactory: "
            "Coucou's protocol class would not be used (docs/internals.md, \"daphne's protocol class\")"
        )
    CoucouWebSocketProtocol.limits = limits
    WebSocketFactory.protocol = CoucouWebSocketProtocol
