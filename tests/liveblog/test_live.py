"""On real processes: an anonymous socket follows a liveblog, drops, and resumes with every
post it missed, once, in order."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live.harness import Stack, recv_json, running_stack

pytestmark = [pytest.mark.live, pytest.mark.asyncio]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(Path(tmp_path_factory.mktemp("liveblog")), workers=()) as live:
        yield live


async def next_of(ws, type_: str) -> dict:
    while True:
        frame = await recv_json(ws)
        if frame["type"] == type_:
            return frame


async def test_an_anonymous_reader_resumes_after_a_drop_with_every_post_once(stack: Stack) -> None:
    editor = stack.token("editor")
    code = (
        "from django.contrib.auth.models import User\n"
        "from liveblog.models import Liveblog\n"
        "User.objects.filter(username='editor').update(is_staff=True)\n"
        "Liveblog.objects.create(slug='pycon', title='PyCon', published=True)\n"
        "Liveblog.objects.create(slug='draft', title='Draft')\n"
    )
    stack.manage("shell", "-v", "0", "-c", code)
    async with stack.http(editor) as http:

        async def write(body: str) -> dict:
            response = await http.post("/api/liveblogs/pycon/posts", json={"body": body})
            assert response.status_code == 201, response.text
            return response.json()

        async with stack.ws() as reader:  # no credentials at all
            assert await recv_json(reader) == {"type": "hello", "seq": None, "epoch": None}
            await reader.send(json.dumps({"type": "subscribe", "channel": "liveblog:draft"}))
            assert (await next_of(reader, "error"))["code"] == "forbidden"
            await reader.send(json.dumps({"type": "subscribe", "channel": "liveblog:pycon"}))
            subscribed = await next_of(reader, "subscribed")
            first = await write("first")
            frame = await next_of(reader, "liveblog.post")
            assert (frame["seq"], frame["data"]) == (1, first)
        missed = [await write(f"while away {i}") for i in range(3)]  # the reader is gone

        async with stack.ws() as reader:
            await recv_json(reader)
            resume = {"after": frame["seq"], "epoch": subscribed["epoch"]}
            await reader.send(json.dumps({"type": "subscribe", "channel": "liveblog:pycon", **resume}))
            await next_of(reader, "subscribed")
            replayed = [await next_of(reader, "liveblog.post") for _ in missed]
            after = await write("after")
            live = await next_of(reader, "liveblog.post")
    assert [(f["seq"], f["data"]) for f in replayed] == [(2 + i, post) for i, post in enumerate(missed)]
    assert (live["seq"], live["data"]) == (5, after)
