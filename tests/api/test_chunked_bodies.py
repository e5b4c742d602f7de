"""config.http.ChunkedBodies: what the WSGI handler behind it receives."""

from __future__ import annotations

from typing import Any

import pytest

from config.http import ChunkedBodies

pytestmark = pytest.mark.asyncio


class Inner:
    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, Any], bytes]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        message = await receive()
        self.calls.append((scope, message["body"]))


def request(headers: list[tuple[bytes, bytes]], *chunks: bytes) -> tuple[dict[str, Any], Any]:
    scope = {"type": "http", "method": "POST", "path": "/api/jobs", "headers": headers}
    messages = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)
    ]

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    return scope, receive


async def test_a_chunked_body_reaches_the_handler_whole_with_its_length() -> None:
    inner = Inner()
    scope, receive = request([(b"transfer-encoding", b"chunked")], b'{"task":', b' "coucou"}')
    await ChunkedBodies(inner, max_bytes=1024)(scope, receive, None)
    [(seen, body)] = inner.calls
    assert body == b'{"task": "coucou"}'
    assert (b"content-length", b"18") in seen["headers"]
    assert not any(name == b"transfer-encoding" for name, _ in seen["headers"])


async def test_a_chunked_body_over_the_limit_is_413_and_never_reaches_the_handler() -> None:
    inner, sent = Inner(), []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope, receive = request([(b"transfer-encoding", b"chunked")], b"x" * 600, b"x" * 600)
    await ChunkedBodies(inner, max_bytes=1024)(scope, receive, send)
    assert inner.calls == []
    assert sent[0]["status"] == 413
    assert sent[1]["body"] == b'{"detail":"request body too large"}'


async def test_a_request_with_a_content_length_goes_straight_through() -> None:
    inner = Inner()
    headers = [(b"content-length", b"2")]
    scope, receive = request(headers, b"{}")
    await ChunkedBodies(inner, max_bytes=1024)(scope, receive, None)
    [(seen, body)] = inner.calls
    assert seen is scope and body == b"{}"
