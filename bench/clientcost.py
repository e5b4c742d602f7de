"""Why the socket client is a raw protocol: its CPU per received frame against ``websockets``.

``python -m bench.clientcost`` serves pre-encoded event frames over loopback from a plain
asyncio server and reads them with each client, in this process, counting CPU time per
frame. Prints one JSON object.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
from typing import Any

import orjson
import websockets

from bench import rawws

FRAMES = 50_000
PAYLOAD = orjson.dumps(
    {"seq": 1, "type": "bench", "job": None, "ts": "2026-11-21T10:00:00.123Z", "data": {"t": 123456789}}
)


def _server_frame(payload: bytes) -> bytes:
    return bytes((0x81, len(payload))) + payload


def _accept(request: bytes) -> bytes:
    for line in request.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"sec-websocket-key":
            digest = hashlib.sha1(value.strip() + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest()  # noqa: S324
            return base64.b64encode(digest)
    raise ValueError("no Sec-WebSocket-Key")


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    request = await reader.readuntil(b"\r\n\r\n")
    writer.write(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + _accept(request) + b"\r\n\r\n"
    )
    chunk = _server_frame(PAYLOAD) * 100
    for _ in range(FRAMES // 100):
        writer.write(chunk)
        await writer.drain()
    await reader.read()  # until the client closes


async def _raw(port: int) -> float:
    done = asyncio.get_running_loop().create_future()
    count = 0

    def on_frame(conn: rawws.WsConnection, opcode: int, payload: bytes, now: int) -> None:
        nonlocal count
        orjson.loads(payload)
        count += 1
        if count == FRAMES:
            done.set_result(None)

    started = time.process_time()
    conn = await rawws.connect(0, "127.0.0.1", port, "/", {}, on_frame, 10)
    await done
    conn.abort()
    return time.process_time() - started


async def _websockets(port: int) -> float:
    started = time.process_time()
    async with websockets.connect(f"ws://127.0.0.1:{port}/", compression=None, max_queue=None) as ws:
        for _ in range(FRAMES):
            orjson.loads(await ws.recv())
    return time.process_time() - started


async def measure() -> dict[str, Any]:
    server = await asyncio.start_server(_serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    result = {"frames": FRAMES, "raw_us_per_frame": round(await _raw(port) / FRAMES * 1e6, 2)}
    try:
        result["websockets_us_per_frame"] = round(await _websockets(port) / FRAMES * 1e6, 2)
    except Exception as exc:  # noqa: BLE001 - report why the comparison could not be made
        result["websockets_error"] = repr(exc)
    server.close()
    return result


def main() -> None:
    import uvloop

    print(orjson.dumps(uvloop.run(measure())).decode())


if __name__ == "__main__":
    main()
