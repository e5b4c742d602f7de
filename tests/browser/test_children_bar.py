"""A parent of child jobs in real Chromium: one row, one bar to 100 %, and its children counted."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import NARROW, PASSWORD, screenshot
from tests.live.harness import Stack


def test_a_fanout_shows_one_bar_for_all_its_children(page_as: Any, stack: Stack) -> None:
    stack.create_users("fanny", password=PASSWORD)  # her own: other tests count bob's jobs
    page = page_as("fanny")
    rows_before = page.locator("li.job").count()
    form = page.locator('form[data-task="demo.fanout"]')
    form.get_by_label("Children").fill("30")
    form.get_by_label("Steps each").fill("5")
    form.get_by_label("Pause per step (ms)").fill("40")
    form.get_by_role("button", name="Fan out").click()
    row = page.locator("li.job").filter(has_text="demo.fanout").first
    bar = row.locator("coucou-progress")
    # Partway: the bar moves with the children, and says how many are done.
    expect(bar.locator(".coucou-progress-children")).to_contain_text("of 30 children done", timeout=20_000)
    expect(row.locator(".job-status")).to_have_text("succeeded", timeout=60_000)
    expect(bar.locator(".coucou-progress-text")).to_have_text("100 % · done")
    expect(bar.locator(".coucou-progress-children")).to_have_text("30 of 30 children done")
    assert bar.locator("progress").evaluate("(p) => p.value") == 100
    # The 30 children have no rows of their own, and the handle knows them.
    assert page.locator("li.job").count() == rows_before + 1
    parent = row.get_attribute("data-job")
    known = page.evaluate(f"window.coucou.job({parent!r}).children")
    assert len(known["ids"]) == 30 and known["counts"]["succeeded"] == 30
    fetched = page.evaluate(f"window.coucou.job({parent!r}).fetchChildren().then((jobs) => jobs.length)")
    assert fetched == 30
    screenshot(page, "demo-fanout")
    page.set_viewport_size(NARROW)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "sideways scroll"
    assert page.js_errors == []
