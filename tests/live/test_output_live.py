"""Streamed output on real processes: demo.stream's 100,000 chunks arrive whole across a socket drop."""

from __future__ import annotations

import time
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from jobs.builtins import fable_words
from tests.live.harness import Stack, recv_json

pytestmark = pytest.mark.asyncio

WORDS = 100_000


class Output:
    """A client's copy of one output stream: what coucou.js does, in Python."""

    def __init__(self, http: Any, job_id: str, key: str) -> None:
        self.http, self.url = http, f"/api/jobs/{job_id}/output/{key}"
        self.data = bytearray()
        self.closed = False
        self.live = self.duplicates = self.holes = self.fetched = 0

    async def fill(self) -> None:
        """Read over REST from what it has to the end."""
        while True:
            response = await self.http.get(self.url, params={"offset": len(self.data)})
            if response.status_code == 404:
                return  # not opened yet
            assert response.status_code == 200, response.text
            page = response.json()
            assert page["offset"] == len(self.data)
            self.data += page["text"].encode()
            self.fetched += len(page["text"].encode())
            assert len(self.data) == page["next_offset"]
            if page["next_offset"] == page["size"]:
                self.closed = page["closed"]
                return

    async def frame(self, frame: dict[str, Any]) -> None:
        text = frame["text"].encode()
        if frame["offset"] > len(self.data):
            self.holes += 1
            await self.fill()
        have = len(self.data)
        if frame["offset"] + len(text) <= have and not (frame["closed"] and frame["offset"] == have):
            self.duplicates += 1
            return
        self.live += 1
        self.data += text[have - frame["offset"] :]
        self.closed = self.closed or frame["closed"]


async def test_100000_chunks_arrive_whole_across_a_socket_drop(stack: Stack) -> None:
    token = stack.token("odile")
    expected = "".join(fable_words(WORDS)).encode()
    async with stack.http(token) as http:
        ws = await stack.ws(token)
        hello = await recv_json(ws)
        response = await http.post(
            "/api/jobs", json={"task": "demo.stream", "params": {"words": WORDS, "interval_ms": 0}}
        )
        assert response.status_code == 202, response.text
        job_id = response.json()["id"]
        output = Output(http, job_id, "text")
        last_seq, dropped_at, ended = hello["seq"], None, None
        deadline = time.monotonic() + 60
        while ended is None:
            assert time.monotonic() < deadline, f"no end in 60 s; {len(output.data)} bytes so far"
            try:
                frame = await recv_json(ws, timeout=20)
            except ConnectionClosed:
                raise AssertionError("the socket closed by itself") from None
            if "seq" in frame and frame["type"] != "hello":
                last_seq = frame["seq"]
                if frame["type"] in ("job.succeeded", "job.failed", "job.cancelled"):
                    ended = frame
            elif frame["type"] == "output" and frame["job"] == job_id:
                await output.frame(frame)
                if dropped_at is None and output.live == 3:
                    # The drop: frames sent meanwhile are lost to this client.
                    dropped_at = len(output.data)
                    await ws.close()
                    ws = await stack.ws(token, after=last_seq)
                    assert (await recv_json(ws))["type"] == "hello"
        await ws.close()
        assert ended["type"] == "job.succeeded", ended
        # The end event comes after the last batch: one more read catches a lost last frame.
        await output.fill()

    assert dropped_at is not None and 0 < dropped_at < len(expected), "the drop was not mid-stream"
    assert output.fetched > 0, "what the drop lost was read over REST"
    assert output.closed
    assert bytes(output.data) == expected
    assert ended["data"]["result"] == {"words": WORDS, "bytes": len(expected)}
