"""Real sockets for the canaries of tests/test_internals.py, in a process of their own (each
probe runs a Twisted reactor, which cannot be restarted): ``python -m tests.internals_probe
twisted|daphne`` prints what it saw as JSON.

- ``twisted``: a Twisted TCP server writes 10 MB to a peer that does not read. Reports what
  ``buffered_bytes`` counts, and what the kernel holds on both sides (Linux ioctls), right
  after the writes, once the kernel took what it could, and after the peer read everything.
- ``daphne``: daphne's own ``Server`` with ``realtime.ws_protocol.install()``. One socket
  does not read while the app floods it; another reads but never answers pings.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import socket
import struct
import sys
import termios
import threading
import time
from typing import Any

import daphne.server  # before the reactor's first import: it installs daphne's asyncio reactor
from twisted.internet import protocol, reactor

from realtime import backpressure
from realtime.backpressure import Limits

TOTAL = 10 * 1024 * 1024
CHUNK = 64 * 1024


def _connect(port: int) -> socket.socket:
    """A peer with a small receive buffer: Linux would otherwise grow it to tens of MB."""
    peer = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    peer.connect(("127.0.0.1", port))
    return peer


def _ioctl_int(fd: int, request: int) -> int:
    return int(struct.unpack("i", fcntl.ioctl(fd, request, b"\0\0\0\0"))[0])


def probe_twisted() -> dict[str, Any]:
    seen: dict[str, Any] = {"total": TOTAL}
    state: dict[str, Any] = {}

    class Writer(protocol.Protocol):
        def connectionMade(self) -> None:
            state["transport"] = self.transport
            for _ in range(TOTAL // CHUNK):
                self.transport.write(b"x" * CHUNK)
            seen["after_writes"] = backpressure.buffered_bytes(self.transport)

    factory = protocol.Factory.forProtocol(Writer)
    port: Any = reactor.listenTCP(0, factory, interface="127.0.0.1")  # type: ignore[attr-defined]
    peer = _connect(port.getHost().port)
    peer.setblocking(False)
    received = [0]

    def kernel_took_what_it_could() -> None:
        transport = state["transport"]
        seen["stalled"] = {
            "buffered": backpressure.buffered_bytes(transport),
            "kernel_unsent": _ioctl_int(transport.fileno(), termios.TIOCOUTQ),
            "kernel_unread": _ioctl_int(peer.fileno(), termios.FIONREAD),
        }
        read_everything()

    def read_everything() -> None:
        try:
            while chunk := peer.recv(1 << 20):
                received[0] += len(chunk)
        except BlockingIOError:
            pass
        transport = state["transport"]
        if received[0] >= TOTAL or time.monotonic() > deadline:
            seen["read"] = {"received": received[0], "buffered": backpressure.buffered_bytes(transport)}
            reactor.stop()  # type: ignore[attr-defined]
        else:
            reactor.callLater(0.01, read_everything)  # type: ignore[attr-defined]

    deadline = time.monotonic() + 20
    reactor.callLater(1.0, kernel_took_what_it_could)  # type: ignore[attr-defined]
    reactor.run()  # type: ignore[attr-defined]
    peer.close()
    return seen


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def _handshake(port: int, path: str) -> socket.socket:
    peer = _connect(port)
    peer.sendall(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += peer.recv(1)
    if not head.startswith(b"HTTP/1.1 101"):
        raise RuntimeError(f"no upgrade: {head!r}")
    return peer


def _count_pings(peer: socket.socket, seen: dict[str, Any], started: float) -> None:
    """Read frames (server frames are not masked) until the server drops the connection."""
    pings: list[float] = []
    buffer = b""
    while True:
        try:
            chunk = peer.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        buffer += chunk
        while len(buffer) >= 2 and len(buffer) >= 2 + (buffer[1] & 0x7F):
            opcode, length = buffer[0] & 0x0F, buffer[1] & 0x7F
            if opcode == 0x9:
                pings.append(round(time.monotonic() - started, 2))
            buffer = buffer[2 + length :]
    seen["quiet"] = {"pings_at": pings, "dropped_at": round(time.monotonic() - started, 2)}


def probe_daphne() -> dict[str, Any]:
    from realtime import ws_protocol

    limits = Limits(soft_bytes=256 * 1024, hard_bytes=1024 * 1024, grace_s=10.0, close_timeout_s=0.5)
    ws_protocol.install(limits)
    log = _Lines()
    logging.getLogger("realtime.ws_protocol").addHandler(log)
    seen: dict[str, Any] = {"limits": {"hard": limits.hard_bytes}}
    done: dict[str, asyncio.Event] = {}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "websocket"
        await receive()
        await send({"type": "websocket.accept"})
        if scope["path"] == "/quiet":
            seen["quiet_disconnect"] = (await receive()).get("code")
        else:
            sockets = [p for p in server.connections if getattr(p, "application_type", "") == "websocket"]
            seen["protocols"] = sorted({type(p).__qualname__ for p in sockets})
            # What the consumer's replay pacing reads (backpressure.drained).
            most = 0
            for _ in range(TOTAL // CHUNK):
                await send({"type": "websocket.send", "bytes": b"x" * CHUNK})
                most = max(most, backpressure.buffered_for(scope["client"]) or 0)
                await asyncio.sleep(0.001)  # let the reactor hand what it can to the kernel
            message = await asyncio.wait_for(receive(), 10)
            seen["flood"] = {"most_buffered": most, "disconnect": message}
        done.setdefault(scope["path"], asyncio.Event()).set()
        if len(done) == 2:
            reactor.callLater(0.1, reactor.stop)  # type: ignore[attr-defined]

    server = daphne.server.Server(
        app,
        endpoints=["tcp:port=0:interface=127.0.0.1"],
        signal_handlers=False,
        ping_interval=0.3,
        ping_timeout=2.0,
    )

    def clients() -> None:
        while not server.listening_addresses:
            time.sleep(0.01)
        port = server.listening_addresses[0][1]
        sloth = _handshake(port, "/flood")  # and never reads again
        quiet = _handshake(port, "/quiet")
        _count_pings(quiet, seen, time.monotonic())
        sloth.close()

    threading.Thread(target=clients, daemon=True).start()
    reactor.callLater(30, reactor.stop)  # type: ignore[attr-defined]
    server.run()
    seen["log"] = log.lines
    return seen


if __name__ == "__main__":
    probes = {"twisted": probe_twisted, "daphne": probe_daphne}
    print(json.dumps(probes[sys.argv[1]]()))
