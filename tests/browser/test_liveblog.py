"""A liveblog in real Chromium, read by an anonymous browser while its network drops mid-stream."""

from __future__ import annotations

import itertools
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot, wait_for
from tests.live.harness import Stack

_blogs = itertools.count(1)


class CuttableLink:
    """A TCP relay to the stack's daphne that a test can cut and restore: a real network drop.

    Chromium's offline mode (``context.set_offline``) fails new requests but leaves open
    WebSockets alone (microsoft/playwright#4910), so the test cuts the link too.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.up = True
        self.open: set[socket.socket] = set()
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up:
                client.close()  # the network is down: the connection dies at once
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            with self.lock:
                self.open |= {client, upstream}
            done = threading.Barrier(2, action=lambda c=client, u=upstream: self._closed(c, u))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b, done), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, done: threading.Barrier) -> None:
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass
        for sock in (source, sink):  # one side ended: end the other, so its pump ends too
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        done.wait()

    def _closed(self, *socks: socket.socket) -> None:
        with self.lock:
            self.open.difference_update(socks)
        for sock in socks:
            sock.close()

    def cut(self) -> None:
        self.up = False
        with self.lock:
            socks = list(self.open)
        for sock in socks:  # their pumps end and close them
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def restore(self) -> None:
        self.up = True

    def close(self) -> None:
        self.cut()
        self.listener.close()
        deadline = time.monotonic() + 5
        while self.open and time.monotonic() < deadline:
            time.sleep(0.01)


@pytest.fixture
def link(stack: Stack) -> Iterator[CuttableLink]:
    relay = CuttableLink(stack.port)
    yield relay
    relay.close()


@pytest.fixture(scope="module")
def editor(stack: Stack) -> str:
    """A staff user's bearer token: staff write liveblogs over REST."""
    token = stack.token("editor")
    code = (
        "from django.contrib.auth.models import User\n"
        + "User.objects.filter(username='editor').update(is_staff=True)"
    )
    stack.manage("shell", "-v", "0", "-c", code)
    return token


def new_liveblog(stack: Stack) -> str:
    slug = f"live-{next(_blogs)}"
    code = (
        "from liveblog.models import Liveblog\n"
        f"Liveblog.objects.create(slug={slug!r}, title='Live {slug}', published=True)"
    )
    stack.manage("shell", "-v", "0", "-c", code)
    return slug


def write(stack: Stack, token: str, slug: str, body: str) -> int:
    response = httpx.post(
        f"{stack.base_url}/api/liveblogs/{slug}/posts",
        json={"body": body},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def shown(page: Any) -> list[tuple[int, str]]:
    return [
        tuple(row)
        for row in page.evaluate(
            """() => [...document.querySelectorAll('#posts li.post')].map(
            (li) => [Number(li.dataset.id), li.querySelector('.post-body').textContent])"""
        )
    ]


def test_an_anonymous_reader_follows_live_through_a_network_drop(
    browser: Any, stack: Stack, editor: str, link: CuttableLink
) -> None:
    slug = new_liveblog(stack)
    posts = [(write(stack, editor, slug, f"before {i}"), f"before {i}") for i in range(2)]
    context = browser.new_context()  # no cookie at all: an anonymous reader
    try:
        page = context.new_page()
        page.set_default_timeout(15_000)
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        reloads: list[str] = []
        page.on("request", lambda request: "posts.json" in request.url and reloads.append(request.url))
        page.goto(f"http://127.0.0.1:{link.port}/liveblog/{slug}/")
        assert shown(page) == posts[::-1]  # rendered by the server, newest first
        expect(page.get_by_role("status")).to_have_text("Live")

        posts.append((write(stack, editor, slug, "live 0"), "live 0"))
        wait_for(page, lambda: shown(page) == posts[::-1], what="the live post")

        # The network drops: the page's socket dies and it cannot reconnect meanwhile.
        context.set_offline(True)
        link.cut()
        expect(page.get_by_role("status")).not_to_have_text("Live")
        for i in range(5):
            posts.append((write(stack, editor, slug, f"during {i}"), f"during {i}"))
        page.wait_for_timeout(500)
        assert "during 0" not in [body for _, body in shown(page)]

        link.restore()
        context.set_offline(False)
        expect(page.get_by_role("status")).to_have_text("Live", timeout=30_000)
        posts.append((write(stack, editor, slug, "after"), "after"))
        # Every post once, in order, newest first: the ones written offline came with the resume.
        wait_for(page, lambda: shown(page) == posts[::-1], timeout=15, what="every post once, in order")
        page.wait_for_timeout(300)
        assert shown(page) == posts[::-1]
        assert page.evaluate("window.liveblog.posts.size") == len(posts)
        assert reloads == []  # the missed posts came from the channel's resume, not a refetch
        screenshot(page, "liveblog")
        assert errors == []
    finally:
        context.close()


def test_an_edit_replaces_the_post_in_place(browser: Any, stack: Stack, editor: str) -> None:
    slug = new_liveblog(stack)
    first = write(stack, editor, slug, "Keynote at 9")
    second = write(stack, editor, slug, "Coffee")
    context = browser.new_context(base_url=stack.base_url)
    try:
        page = context.new_page()
        page.goto(f"/liveblog/{slug}/")
        expect(page.get_by_role("status")).to_have_text("Live")
        response = httpx.patch(
            f"{stack.base_url}/api/liveblogs/{slug}/posts/{first}",
            json={"body": "Keynote at 9:30"},
            headers={"Authorization": f"Bearer {editor}"},
            timeout=10,
        )
        assert response.status_code == 200
        wait_for(
            page, lambda: shown(page) == [(second, "Coffee"), (first, "Keynote at 9:30")], what="the edit"
        )
    finally:
        context.close()


def test_an_unpublished_liveblog_is_404(browser: Any, stack: Stack) -> None:
    stack.manage(
        "shell", "-v", "0", "-c",
        "from liveblog.models import Liveblog; Liveblog.objects.create(slug='draft', title='Draft')",
    )  # fmt: skip
    context = browser.new_context(base_url=stack.base_url)
    try:
        assert context.new_page().goto("/liveblog/draft/").status == 404
    finally:
        context.close()
