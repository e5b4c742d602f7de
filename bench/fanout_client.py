"""The fan-out benchmark's socket holder: thousands of sockets on one broadcast channel.

Run as ``python -m bench.fanout_client`` (bench/fanout.py starts one or more); one JSON
command per line on stdin, one JSON answer per line on stdout, like ``bench.client``. Each
socket is ``bench/rawws.py``'s minimal client. A Coucou socket subscribes to the channel
once its ``hello`` arrives; a relay socket is in the group from its handshake on.

What it keeps per step is small whatever the socket count: per broadcast (seq), how many
sockets received it and the latency of the last one; per socket, the seqs it already has
(to count each delivery once); a histogram of every delivery's latency, in whole ms.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections import Counter
from typing import Any

import orjson

from bench import rawws
from bench.client import _Closed, raise_nofile

NS_PER_MS = 1_000_000


class Fleet:
    def __init__(self, subscribe: str | None) -> None:
        self.subscribe = subscribe.encode() if subscribe else None
        self.conns: list[rawws.WsConnection] = []
        self.ready: list[asyncio.Future[None] | None] = []
        self.seen: list[set[int]] = []
        self.count: dict[int, int] = {}  # seq -> sockets that received it
        self.slowest: dict[int, int] = {}  # seq -> latency of its last socket (ns)
        self.hist: Counter[int] = Counter()  # latency in whole ms -> deliveries
        self.last_event_ns = 0
        self.duplicates = 0
        self.other: Counter[str] = Counter()

    def on_frame(self, conn: rawws.WsConnection, opcode: int, payload: bytes, now: int) -> None:
        if opcode != rawws.OP_TEXT:
            return
        frame = orjson.loads(payload)
        kind = frame.get("type")
        if kind == "bench":
            seq = frame["seq"]
            seen = self.seen[conn.index]
            if seq in seen:
                self.duplicates += 1
                return
            seen.add(seq)
            latency = now - frame["data"]["t"]
            self.count[seq] = self.count.get(seq, 0) + 1
            if latency > self.slowest.get(seq, 0):
                self.slowest[seq] = latency
            self.hist[latency // NS_PER_MS] += 1
            self.last_event_ns = now
        elif kind == "hello" and self.subscribe is not None:
            conn.send(self.subscribe)
        elif kind == "subscribed":
            self._ready(conn)
        else:
            self.other[str(kind)] += 1

    def _ready(self, conn: rawws.WsConnection) -> None:
        waiter = self.ready[conn.index]
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

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
        path: str,
        count: int,
        headers: dict[str, str] | None = None,
        subscribe: str | None = None,
        concurrency: int = 100,
        timeout_s: float = 60.0,
    ) -> dict[str, Any]:
        """``count`` more sockets on ``path``; each subscribes first when ``subscribe`` is given."""
        fleet = self.fleets.setdefault(target, Fleet(subscribe))
        loop = asyncio.get_running_loop()
        gate = asyncio.Semaphore(concurrency)
        errors: Counter[str] = Counter()
        started = time.monotonic()

        async def one(index: int) -> None:
            async with gate:
                waiter = fleet.ready[index] = loop.create_future() if subscribe else None
                try:
                    conn = await rawws.connect(
                        index, host, port, path, headers or {}, fleet.on_frame, timeout_s
                    )
                    fleet.conns[index] = conn
                    if waiter is not None:
                        await asyncio.wait_for(waiter, timeout_s)
                except (OSError, TimeoutError, ConnectionError) as exc:
                    errors[f"{type(exc).__name__}: {exc}"[:120]] += 1
                    fleet.conns[index].abort()
                    fleet.conns[index] = _Closed()  # type: ignore[assignment]

        base = len(fleet.conns)
        fleet.conns.extend([_Closed()] * count)  # type: ignore[list-item]
        fleet.ready.extend([None] * count)
        fleet.seen.extend(set() for _ in range(count))
        await asyncio.gather(*(one(base + i) for i in range(count)))
        fleet.ready = [None] * len(fleet.conns)
        return {
            "connected": count - sum(errors.values()),
            "failed": sum(errors.values()),
            "errors": dict(errors.most_common(5)),
            "seconds": round(time.monotonic() - started, 2),
            "open": fleet.open_count(),
        }

    def reset(self, target: str) -> dict[str, Any]:
        fleet = self.fleets[target]
        for seen in fleet.seen:
            seen.clear()
        fleet.count.clear()
        fleet.slowest.clear()
        fleet.hist.clear()
        fleet.last_event_ns = 0
        return {"ok": True}

    async def wait(
        self, target: str, first: int, last: int, limit_s: float, quiet_s: float
    ) -> dict[str, Any]:
        """Until every socket has seqs ``first``..``last``, or ``limit_s``, or ``quiet_s`` of silence."""
        fleet = self.fleets[target]
        sockets = sum(not isinstance(c, _Closed) for c in fleet.conns)  # every socket that got in
        seqs = range(first, last + 1)
        expected = sockets * len(seqs)
        started = time.monotonic()
        start_ns = time.monotonic_ns()
        while True:
            delivered = sum(fleet.count.get(seq, 0) for seq in seqs)
            idle_s = (time.monotonic_ns() - max(fleet.last_event_ns, start_ns)) / 1e9
            if delivered >= expected or time.monotonic() - started > limit_s or idle_s > quiet_s:
                break
            await asyncio.sleep(0.005)
        return {
            "sockets": sockets,
            "expected": expected,
            "delivered": delivered,
            "slowest_ns": {seq: fleet.slowest.get(seq) for seq in seqs},
            "complete": {seq: fleet.count.get(seq, 0) >= sockets for seq in seqs},
            "hist_ms": dict(fleet.hist),
            "duplicates": fleet.duplicates,
            "waited_s": round(time.monotonic() - started, 3),
            "open": fleet.open_count(),
            "other_frames": dict(fleet.other),
        }

    async def drain(
        self, target: str, quiet_s: float, limit_s: float, first: int = 0, last: int = -1
    ) -> dict[str, Any]:
        """Until no frame came for ``quiet_s`` (a backlog the web process is still sending);
        then how many deliveries of seqs ``first``..``last`` arrived in all, late ones too."""
        fleet = self.fleets[target]
        started = time.monotonic()
        while time.monotonic() - started < limit_s:
            if (time.monotonic_ns() - fleet.last_event_ns) / 1e9 > quiet_s:
                break
            await asyncio.sleep(0.05)
        delivered = sum(fleet.count.get(seq, 0) for seq in range(first, last + 1))
        return {"waited_s": round(time.monotonic() - started, 2), "delivered": delivered}

    async def close(self, target: str) -> dict[str, Any]:
        fleet = self.fleets.pop(target, None)
        if fleet is None:
            return {"closed": 0}
        for conn in fleet.conns:
            conn.close()
        deadline = time.monotonic() + 10
        while any(not c.closed for c in fleet.conns) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for conn in fleet.conns:
            conn.abort()
        return {"closed": len(fleet.conns), "other_frames": dict(fleet.other)}


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
        sys.stdout.buffer.write(orjson.dumps(result, option=orjson.OPT_NON_STR_KEYS) + b"\n")
        sys.stdout.flush()
    for target in list(client.fleets):
        await client.close(target)


def main() -> None:
    raise_nofile()
    import uvloop

    with contextlib.suppress(KeyboardInterrupt):
        uvloop.run(serve())


if __name__ == "__main__":
    main()
