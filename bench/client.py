"""The socket-holding process: N WebSocket clients per target, one user each.

Run as ``python -m bench.client``; the driver (bench/run.py) sends it one JSON command per
line on stdin and reads one JSON answer per line on stdout. Every event frame carries the
publisher's ``time.monotonic_ns()`` (a system-wide clock on Linux), so latency is measured
from just before the publish call to the frame's arrival here.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson

from bench import rawws
from bench.stats import percentiles

PING = b'{"type":"ping"}'


@dataclass
class Fleet:
    """The sockets of one target and what they received."""

    host: str
    port: int
    conns: list[rawws.WsConnection] = field(default_factory=list)
    events: list[dict[int, int]] = field(default_factory=list)  # per socket: seq -> latency ns
    last_event_ns: int = 0
    pings: dict[int, int] = field(default_factory=dict)  # socket -> ping sent at (ns)
    pong_ns: list[int] = field(default_factory=list)
    other: Counter[str] = field(default_factory=Counter)

    def on_frame(self, conn: rawws.WsConnection, opcode: int, payload: bytes, now: int) -> None:
        if opcode != rawws.OP_TEXT:
            return
        frame = orjson.loads(payload)
        kind = frame.get("type")
        if kind == "bench":
            seen = self.events[conn.index]
            seq = frame["seq"]
            if seq not in seen:
                seen[seq] = now - frame["data"]["t"]
                self.last_event_ns = now
        elif kind == "pong":
            sent = self.pings.pop(conn.index, None)
            if sent is not None:
                self.pong_ns.append(now - sent)
        else:
            self.other[kind] += 1

    def open_count(self) -> int:
        return sum(not c.closed for c in self.conns)


class Client:
    def __init__(self) -> None:
        self.fleets: dict[str, Fleet] = {}

    async def connect(
        self,
        target: str,
        host: str,
        port: int,
        sockets: list[dict[str, Any]],
        concurrency: int = 50,
        connect_timeout_s: float = 30.0,
    ) -> dict[str, Any]:
        fleet = self.fleets.setdefault(target, Fleet(host, port))
        gate = asyncio.Semaphore(concurrency)
        errors: Counter[str] = Counter()
        started = time.monotonic()

        async def one(index: int, spec: dict[str, Any]) -> None:
            async with gate:
                try:
                    conn = await rawws.connect(
                        index,
                        host,
                        port,
                        spec["path"],
                        spec.get("headers", {}),
                        fleet.on_frame,
                        connect_timeout_s,
                    )
                except (OSError, TimeoutError, ConnectionError) as exc:
                    errors[f"{type(exc).__name__}: {exc}"[:120]] += 1
                    return
                fleet.conns[index] = conn

        base = len(fleet.conns)
        fleet.conns.extend([_Closed()] * len(sockets))  # type: ignore[list-item]
        fleet.events.extend({} for _ in sockets)
        await asyncio.gather(*(one(base + i, spec) for i, spec in enumerate(sockets)))
        return {
            "connected": len(sockets) - sum(errors.values()),
            "failed": sum(errors.values()),
            "errors": dict(errors.most_common(5)),
            "seconds": round(time.monotonic() - started, 2),
            "open": fleet.open_count(),
        }

    async def connect_many(self, fleets: list[dict[str, Any]]) -> dict[str, Any]:
        """Several targets' sockets at once (each target is its own server process)."""
        answers = await asyncio.gather(*(self.connect(**fleet) for fleet in fleets))
        return {fleet["target"]: answer for fleet, answer in zip(fleets, answers, strict=True)}

    def reset(self, target: str) -> dict[str, Any]:
        fleet = self.fleets[target]
        for seen in fleet.events:
            seen.clear()
        fleet.last_event_ns = 0
        return {"ok": True}

    async def wait(
        self, target: str, ranges: dict[str, list[int]], limit_s: float, quiet_s: float
    ) -> dict[str, Any]:
        """Wait until every published seq arrived, nothing new came for ``quiet_s``, or ``limit_s``."""
        fleet = self.fleets[target]
        spans = [(int(index), first, last) for index, (first, last) in ranges.items()]
        expected = sum(last - first + 1 for _, first, last in spans)
        started = time.monotonic()
        while True:
            delivered = _count(fleet, spans)
            now = time.monotonic()
            idle = (time.monotonic_ns() - max(fleet.last_event_ns, int(started * 1e9))) / 1e9
            if delivered >= expected or now - started > limit_s or idle > quiet_s:
                break
            await asyncio.sleep(0.05)
        latencies = [
            lat
            for index, first, last in spans
            for seq, lat in fleet.events[index].items()
            if first <= seq <= last
        ]
        missing = [
            (index, seq)
            for index, first, last in spans
            for seq in range(first, last + 1)
            if seq not in fleet.events[index]
        ][:5]
        return {
            "expected": expected,
            "delivered": delivered,
            "lost": expected - delivered,
            "missing_sample": missing,
            "waited_s": round(time.monotonic() - started, 3),
            "latency_ms": percentiles(latencies, scale=1e-6),
            "open": fleet.open_count(),
        }

    async def ping(self, target: str, limit_s: float) -> dict[str, Any]:
        fleet = self.fleets[target]
        fleet.pings.clear()
        fleet.pong_ns.clear()
        now = time.monotonic_ns()
        for conn in fleet.conns:
            if not conn.closed:
                fleet.pings[conn.index] = now
                conn.send(PING)
        sent = len(fleet.pings)
        deadline = time.monotonic() + limit_s
        while fleet.pings and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return {
            "sent": sent,
            "pongs": len(fleet.pong_ns),
            "latency_ms": percentiles(fleet.pong_ns, scale=1e-6),
        }

    async def close(self, target: str) -> dict[str, Any]:
        fleet = self.fleets.pop(target, None)
        if fleet is None:
            return {"closed": 0}
        for conn in fleet.conns:
            conn.close()
        deadline = time.monotonic() + 5
        while any(not c.closed for c in fleet.conns) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for conn in fleet.conns:
            conn.abort()
        return {"closed": len(fleet.conns), "other_frames": dict(fleet.other)}

    def stats(self, target: str) -> dict[str, Any]:
        fleet = self.fleets[target]
        return {"open": fleet.open_count(), "other_frames": dict(fleet.other)}


class _Closed:
    """Placeholder for a socket that is not (yet) connected."""

    closed = True
    index = -1

    def send(self, payload: bytes, opcode: int = rawws.OP_TEXT) -> None:
        pass

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


def _count(fleet: Fleet, spans: list[tuple[int, int, int]]) -> int:
    total = 0
    for index, first, last in spans:
        seen = fleet.events[index]
        if len(seen) == last - first + 1 and all(first <= s <= last for s in seen):
            total += len(seen)
        else:
            total += sum(1 for s in seen if first <= s <= last)
    return total


async def serve() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**26)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    client = Client()
    while line := await reader.readline():
        command = orjson.loads(line)
        name = command.pop("cmd")
        if name == "quit":
            break
        result = getattr(client, name)(**command)
        if asyncio.iscoroutine(result):
            result = await result
        sys.stdout.buffer.write(orjson.dumps(result) + b"\n")
        sys.stdout.flush()
    for target in list(client.fleets):
        await client.close(target)


def raise_nofile() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main() -> None:
    raise_nofile()
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is pinned; the client still works without it
        uvloop = None
    with contextlib.suppress(KeyboardInterrupt):
        if uvloop is not None:
            uvloop.run(serve())
        else:
            asyncio.run(serve())


if __name__ == "__main__":
    main()
