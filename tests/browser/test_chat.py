"""A chat room in real Chromium: two users in two browser contexts talk live on chat:<slug>."""

from __future__ import annotations

import itertools
from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import NARROW, screenshot
from tests.live.harness import Stack

_rooms = itertools.count(1)


def new_room(stack: Stack, *members: str) -> str:
    slug = f"room-{next(_rooms)}"
    stack.manage("create_room", slug, "--title", f"Room {slug}", "--members", *members)
    return slug


def open_room(page_as: Any, username: str, slug: str) -> Any:
    page = page_as(username)  # signed in, on the demo page
    page.goto(f"/chat/{slug}/")
    expect(page.get_by_role("status")).to_have_text("Live")
    return page


def send(page: Any, text: str) -> None:
    page.get_by_role("textbox", name="Message").fill(text)
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("textbox", name="Message")).to_have_value("")


def bodies(page: Any) -> Any:
    return page.locator("#messages .message-body")


def test_two_users_chat_live_and_see_each_other(page_as: Any, stack: Stack) -> None:
    slug = new_room(stack, "alice", "bob")
    alice = open_room(page_as, "alice", slug)
    bob = open_room(page_as, "bob", slug)
    expect(alice.locator("#presence li")).to_have_text(["alice", "bob"])
    expect(bob.locator("#presence li")).to_have_text(["alice", "bob"])

    send(alice, "coucou bob")
    expect(bodies(bob)).to_have_text(["coucou bob"])
    send(bob, "coucou alice")
    for page in (alice, bob):
        expect(bodies(page)).to_have_text(["coucou bob", "coucou alice"])
    expect(bob.locator("#messages .message").first.locator(".message-author")).to_have_text("alice")
    expect(bob.locator("#messages .message.mine")).to_have_count(1)

    # A new tab gets the room's history from the channel, each message once.
    again = open_room(page_as, "bob", slug)
    expect(bodies(again)).to_have_text(["coucou bob", "coucou alice"])
    again.get_by_role("button", name="Older messages").click()  # nothing older than the channel has
    expect(again.get_by_text("No older message.")).to_be_visible()
    expect(bodies(again)).to_have_count(2)

    # Leaving is heard by the others (bob's last socket on the room closes).
    bob.close()
    again.close()
    expect(alice.locator("#presence li")).to_have_text(["alice"], timeout=20_000)
    screenshot(alice, "chat-desktop")
    alice.set_viewport_size(NARROW)
    assert alice.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "sideways scroll"
    screenshot(alice, "chat-narrow")
    assert alice.js_errors == []


def test_an_invalid_message_shows_the_apis_reason_and_sends_nothing(page_as: Any, stack: Stack) -> None:
    slug = new_room(stack, "alice")
    page = open_room(page_as, "alice", slug)
    page.get_by_role("textbox", name="Message").evaluate("input => input.removeAttribute('maxlength')")
    page.get_by_role("textbox", name="Message").fill("x" * 2001)
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("alert")).to_contain_text("at most 2000 characters")
    expect(bodies(page)).to_have_count(0)


def test_a_non_member_gets_404_and_cannot_read_the_channel(page_as: Any, stack: Stack) -> None:
    slug = new_room(stack, "alice")
    carol = page_as("carol")
    assert carol.goto(f"/chat/{slug}/").status == 404
    carol.goto("/")
    status = carol.evaluate(
        """async (slug) => {
            const csrf = document.querySelector('meta[name="csrf-token"]').content;
            const post = await fetch(`/api/chat/rooms/${slug}/messages`, {method: "POST",
                headers: {"Content-Type": "application/json", "X-CSRFToken": csrf},
                body: JSON.stringify({body: "let me in"})});
            const read = await fetch(`/api/chat/rooms/${slug}/messages`);
            const presence = await fetch(`/api/realtime/presence/chat:${slug}`);
            return [post.status, read.status, presence.status];
        }""",
        slug,
    )
    assert status == [404, 404, 403]
