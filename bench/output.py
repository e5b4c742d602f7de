"""Streamed output's figure: chunks per second from one writer to one socket, and the time
from ``write()`` to the socket's receipt (p50/p99).

    python -m bench.output [--chunks 100000] [--rate 1000] [--seconds 5]

A fresh Redis and one daphne; a child process writes through ``jobs.output.OutputWriter``
(what ``ctx.stream(key)`` returns) chunks that each carry their write time, and one socket of
the owner times each chunk on receipt. Phase "burst": ``--chunks`` as fast as one process
writes; phase "steady": ``--rate`` chunks a second for ``--seconds``. The Celery worker is
left out: it adds nothing between write() and the socket. Prints JSON, writes bench/out/output.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import websockets

from bench.stack import ROOT, Stack

OUT = ROOT / "bench" / "out"

WRITER = """
import sys, time, uuid
import django
django.setup()
from jobs.output import OutputWriter
owner, chunks, rate = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
out = OutputWriter(job_id=str(uuid.uuid4()), owner_id=owner, key="bench")
start = time.monotonic()
for i in range(chunks):
    if rate:
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    out.write(f"{time.time_ns():020d} ")
out.close()
"""


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _phase(stack: Stack, port: int, token: str, owner: int, chunks: int, rate: float) -> dict[str, Any]:
    latencies: list[float] = []
    first_write = last_receipt = 0
    url = f"ws://127.0.0.1:{port}/ws/events/"
    async with websockets.connect(
        url, additional_headers={"Authorization": f"Bearer {token}"}, max_size=2**24
    ) as ws:
        await ws.recv()  # hello
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(owner), str(chunks), str(rate)], env=stack.env, cwd=ROOT
        )
        closed = False
        while not closed:
            frame = orjson.loads(await asyncio.wait_for(ws.recv(), 120))
            now = time.time_ns()
            if frame.get("type") != "output":
                continue
            for token_ns in frame["text"].split():
                written = int(token_ns)
                first_write = first_write or written
                latencies.append((now - written) / 1e6)
            last_receipt = now
            closed = frame["closed"]
        writer.wait(30)
    seconds = (last_receipt - first_write) / 1e9
    assert len(latencies) == chunks, (len(latencies), chunks)
    return {
        "chunks": chunks,
        "target_rate": rate or None,
        "seconds": round(seconds, 3),
        "chunks_per_s": round(chunks / seconds),
        "latency_ms": {
            "p50": round(_percentile(latencies, 0.5), 2),
            "p99": round(_percentile(latencies, 0.99), 2),
            "max": round(max(latencies), 2),
        },
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--seconds", type=float, default=5)
    args = parser.parse_args(argv)
    stack = Stack.fresh(OUT / "work-output")
    try:
        web = stack.web("web", "config.asgi:application")
        token = stack.python("manage.py", "create_token", "bench", "--create-user").strip().splitlines()[-1]
        code = "from django.contrib.auth.models import User; print(User.objects.get(username='bench').pk)"
        owner = int(stack.python("manage.py", "shell", "-v", "0", "-c", code).strip().splitlines()[-1])
        burst = asyncio.run(_phase(stack, web.port, token, owner, args.chunks, 0))
        steady = asyncio.run(_phase(stack, web.port, token, owner, int(args.rate * args.seconds), args.rate))
    finally:
        stack.stop()
    result = {
        "what": "one OutputWriter -> Redis APPEND + PUBLISH -> one daphne -> one socket, loopback",
        "batch": "every 50 ms or 16 KiB (JOBS_OUTPUT_BATCH_MS, JOBS_OUTPUT_BATCH_BYTES)",
        "burst": burst,
        "steady": steady,
    }
    OUT.mkdir(parents=True, exist_ok=True)
    Path(OUT / "output.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
