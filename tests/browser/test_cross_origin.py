"""A page on another origin follows a Coucou user's events with tickets its backend fetched."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.sync_api import expect

from tests.browser.conftest import wait_for
from tests.live.harness import Stack


def test_a_page_on_another_origin_connects_with_a_fresh_ticket_each_time(
    new_page: Any, stack: Stack, foreign_site: Any
) -> None:
    foreign_site.token = token = stack.token("dana")
    page = new_page()
    page.goto(foreign_site.page_url())
    expect(page.get_by_role("status")).to_have_text("open")

    def coucou() -> None:
        response = httpx.post(f"{stack.base_url}/api/coucou", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 202

    coucou()
    expect(page.locator("#events li", has_text="coucou")).to_have_text(["3 coucou coucou dana"])

    # The socket drops: the client reconnects with a new ticket (one works once) and ?after=.
    page.evaluate("window.coucou.socket.close()")
    wait_for(page, lambda: foreign_site.tickets_issued == 2, what="a second ticket")
    expect(page.get_by_role("status")).to_have_text("open")
    coucou()
    expect(page.locator("#events li", has_text="coucou")).to_have_text(
        ["3 coucou coucou dana", "7 coucou coucou dana"]
    )
    expect(page.locator("#events li")).to_have_count(8)
    assert page.js_errors == []
