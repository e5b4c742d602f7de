"""A minimal WebSocket client protocol for holding thousands of sockets in one process.

Just enough of RFC 6455 for the benchmark: the upgrade handshake, unmasked server frames
(text, ping, close; no extensions, no fragmentation from daphne for frames this small),
masked client frames. It costs a few microseconds per frame, so the client process stays far
from being the bottleneck (``websockets`` costs several times more per frame; see RESULTS.md).
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
from collections.abc import Callable

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA

FrameHandler = Callable[["WsConnection", int, bytes, int], None]


def client_frame(payload: bytes, opcode: int = OP_TEXT) -> bytes:
    """One masked, final client frame."""
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        header = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        header = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    key = int.from_bytes((mask * (n // 4 + 1))[:n], "big") if n else 0
    masked = (int.from_bytes(payload, "big") ^ key).to_bytes(n, "big") if n else b""
    return header + mask + masked


def handshake(host: str, port: int, path: str, headers: dict[str, str]) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class WsConnection(asyncio.Protocol):
    """One client socket; every complete server frame goes to ``on_frame``."""

    def __init__(self, index: int, request: bytes, on_frame: FrameHandler) -> None:
        self.index = index
        self.request = request
        self.on_frame = on_frame
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed = False
        self.close_code: int | None = None
        self.transport: asyncio.Transport | None = None
        self._buf = bytearray()
        self._upgraded = False

    # asyncio.Protocol -------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment] # uvloop's is no asyncio.Transport subclass
        transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(f"closed before the upgrade: {exc}"))

    def data_received(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        if not self._upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(buf[: buf.find(b"\r\n")])
            del buf[: end + 4]
            if b" 101 " not in status:
                self.opened.set_exception(ConnectionError(status.decode(errors="replace")))
                self.abort()
                return
            self._upgraded = True
            self.opened.set_result(None)
        self._parse(time.monotonic_ns())

    def _parse(self, now: int) -> None:
        buf = self._buf
        n = len(buf)
        pos = 0
        while n - pos >= 2:
            b0 = buf[pos]
            length = buf[pos + 1] & 0x7F
            start = pos + 2
            if length == 126:
                if n - pos < 4:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 4], "big")
                start = pos + 4
            elif length == 127:
                if n - pos < 10:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                start = pos + 10
            end = start + length
            if end > n:
                break
            self._frame(b0 & 0x0F, bytes(buf[start:end]), now)
            pos = end
        if pos:
            del buf[:pos]

    def _frame(self, opcode: int, payload: bytes, now: int) -> None:
        if opcode == OP_PING:
            self.send(payload, OP_PONG)
        elif opcode == OP_CLOSE:
            self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            self.send(payload[:2], OP_CLOSE)
            self.abort()
        self.on_frame(self, opcode, payload, now)

    # sending ----------------------------------------------------------------------------
    def send(self, payload: bytes, opcode: int = OP_TEXT) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(client_frame(payload, opcode))

    def close(self) -> None:
        self.send((1000).to_bytes(2, "big"), OP_CLOSE)

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


async def connect(
    index: int,
    host: str,
    port: int,
    path: str,
    headers: dict[str, str],
    on_frame: FrameHandler,
    timeout: float,
) -> WsConnection:
    loop = asyncio.get_running_loop()
    request = handshake(host, port, path, headers)
    _, conn = await asyncio.wait_for(
        loop.create_connection(lambda: WsConnection(index, request, on_frame), host, port), timeout
    )
    await asyncio.wait_for(conn.opened, timeout)
    return conn
