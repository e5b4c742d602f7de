"""HTTP plumbing between daphne and Django's WSGI handler (see config/asgi.py)."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import orjson


def add_reason_phrases() -> None:
    """Give every status its name in the status line.

    daphne answers through Twisted, whose table lacks some statuses Coucou sends: clients
    read "422 Unknown Status" and "429 Unknown Status".
    """
    from twisted.web import http

    for status in HTTPStatus:
        http.RESPONSES.setdefault(status.value, status.phrase.encode())


class ChunkedBodies:
    """Give a chunked request body the ``Content-Length`` that WSGI needs.

    ASGI carries a body in messages whatever its framing; a WSGI handler reads
    ``CONTENT_LENGTH`` bytes and, without one, sees an empty body. For a request sent with
    ``Transfer-Encoding: chunked`` this reads the body first, up to ``max_bytes`` (past it:
    413, as Django answers a body over ``DATA_UPLOAD_MAX_MEMORY_SIZE``), and passes it on
    with its length. Every other request goes straight through.
    """

    def __init__(self, app: Any, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = scope.get("headers", [])
        if scope["type"] != "http" or not any(name == b"transfer-encoding" for name, _ in headers):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await _too_large(send)
                return
            chunks.append(chunk)
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        framed = [(name, value) for name, value in headers if name != b"transfer-encoding"]
        framed.append((b"content-length", str(len(body)).encode()))
        delivered = False

        async def replay() -> dict[str, Any]:
            nonlocal delivered
            if delivered:
                return dict(await receive())
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app({**scope, "headers": framed}, replay, send)


async def _too_large(send: Any) -> None:
    body = orjson.dumps({"detail": "request body too large"})
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
