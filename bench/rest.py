"""``POST /api/coucou`` → ``coucou`` frame: a real job through the API, Celery and the socket.

One user holds a socket; the driver POSTs, one request at a time, and times from just before
the request is written to the arrival of that job's ``coucou`` frame (which may come before
the 202). Both clients are minimal (bench/rawws.py and one keep-alive HTTP/1.1 connection),
as in the other phases: httpx and websockets cost the shared two cores about 2 ms per job,
which the server would be charged for.

``python -m bench.rest [--rounds 3] [--requests 150] [--sockets 1000]`` runs this phase alone
against a fresh stack (Redis, one Coucou web process, a Celery worker, ``--sockets`` idle
sockets held on the web process as in ``make bench``) and prints each round's p50 / p99: a
check of a change to the POST path in under a minute, instead of a full run.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path
from typing import Any

import orjson

from bench import rawws
from bench.stats import percentiles


class _Http:
    """One keep-alive HTTP/1.1 connection: enough for ``POST /api/coucou``'s small JSON answers."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def post(self, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
        lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Length: 0"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)


async def coucou_latency(
    port: int, token: str, *, requests: int, warmup: int = 5, pause_s: float = 0.02
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    arrived: dict[str, int] = {}
    waiting: dict[str, asyncio.Future[int]] = {}

    def on_frame(conn: rawws.WsConnection, opcode: int, payload: bytes, now: int) -> None:
        if opcode != rawws.OP_TEXT or b'"type":"coucou"' not in payload:
            return
        job = orjson.loads(payload)["job"]
        arrived[job] = now
        if job in waiting and not waiting[job].done():
            waiting[job].set_result(now)

    socket = await rawws.connect(0, "127.0.0.1", port, "/ws/events/", headers, on_frame, timeout=10)
    http = _Http(*await asyncio.open_connection("127.0.0.1", port))
    frame_ms: list[float] = []
    response_ms: list[float] = []
    try:
        for i in range(warmup + requests):
            started = time.monotonic_ns()
            status, body = await asyncio.wait_for(http.post("/api/coucou", headers), 10)
            answered = time.monotonic_ns()
            if status != 202:
                raise RuntimeError(f"POST /api/coucou answered {status}: {body[:300]!r}")
            job = orjson.loads(body)["id"]
            if job in arrived:
                at = arrived[job]
            else:
                waiting[job] = asyncio.get_running_loop().create_future()
                at = await asyncio.wait_for(waiting[job], 10)
            if i >= warmup:
                frame_ms.append((at - started) / 1e6)
                response_ms.append((answered - started) / 1e6)
            await asyncio.sleep(pause_s)
    finally:
        socket.abort()
        http.writer.close()
    return {"frame_ms": percentiles(frame_ms), "response_ms": percentiles(response_ms)}


def main() -> None:
    from bench.client import raise_nofile
    from bench.run import BENCH, log
    from bench.stack import Stack
    from bench.sweep import socket_specs

    parser = argparse.ArgumentParser(prog="python -m bench.rest")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=150)
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--work", type=Path, default=BENCH / "out" / "work-rest")
    args = parser.parse_args()
    raise_nofile()
    stack = Stack.fresh(args.work)
    try:
        stack.python("-m", "bench.provision", str(args.sockets + 1), str(args.work / "users.json"))
        users = [(uid, token) for uid, token in orjson.loads((args.work / "users.json").read_bytes())]
        server = stack.web("web-coucou", "config.asgi:application")
        stack.worker()
        if args.sockets:
            client = stack.helper("client", "-m", "bench.client")
            specs = socket_specs("coucou", users[: args.sockets])
            client.call(
                "connect", timeout=600, target="idle", host="127.0.0.1", port=server.port, sockets=specs
            )
        for i in range(args.rounds):
            figures = asyncio.run(coucou_latency(server.port, users[-1][1], requests=args.requests))
            frame, response = figures["frame_ms"], figures["response_ms"]
            log(
                f"round {i + 1}: frame p50 {frame['p50']} / p99 {frame['p99']} ms; "
                f"202 p50 {response['p50']} ms"
            )
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
