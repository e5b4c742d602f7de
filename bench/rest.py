"""``POST /api/coucou`` → ``coucou`` frame: a real job through the API, Celery and the socket.

One user holds a socket; the driver POSTs, one request at a time, and times from just before
the request to the arrival of that job's ``coucou`` frame (which may come before the 202).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import websockets

from bench.stats import percentiles


async def coucou_latency(
    port: int, token: str, *, requests: int, warmup: int = 5, pause_s: float = 0.02
) -> dict[str, Any]:
    base = f"127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {token}"}
    arrived: dict[str, float] = {}
    waiting: dict[str, asyncio.Future[float]] = {}

    async def listen(ws: Any) -> None:
        async for raw in ws:
            frame = json.loads(raw)
            if frame.get("type") == "coucou":
                now = time.perf_counter()
                job = frame["job"]
                arrived[job] = now
                if job in waiting and not waiting[job].done():
                    waiting[job].set_result(now)

    frame_ms: list[float] = []
    response_ms: list[float] = []
    async with (
        websockets.connect(f"ws://{base}/ws/events/", additional_headers=headers) as ws,
        httpx.AsyncClient(base_url=f"http://{base}", headers=headers, timeout=10) as http,
    ):
        listener = asyncio.create_task(listen(ws))
        for i in range(warmup + requests):
            started = time.perf_counter()
            response = await http.post("/api/coucou")
            answered = time.perf_counter()
            response.raise_for_status()
            job = response.json()["id"]
            if job in arrived:
                at = arrived[job]
            else:
                waiting[job] = asyncio.get_running_loop().create_future()
                at = await asyncio.wait_for(waiting[job], 10)
            if i >= warmup:
                frame_ms.append((at - started) * 1000)
                response_ms.append((answered - started) * 1000)
            await asyncio.sleep(pause_s)
        listener.cancel()
    return {"frame_ms": percentiles(frame_ms), "response_ms": percentiles(response_ms)}
