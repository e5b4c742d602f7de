"""<coucou-output> in real Chromium on the demo page: a demo.stream job's output shown whole."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from jobs.builtins import fable_words
from tests.browser.conftest import screenshot, wait_for
from tests.live.harness import Stack

SHOWN = "(row) => row.querySelector('coucou-output pre').textContent"


def start_stream(page: Any, words: int, interval_ms: int) -> Any:
    form = page.locator('form[data-task="demo.stream"]')
    form.get_by_label("Words", exact=True).fill(str(words))
    form.get_by_label("Pause between words (ms)").fill(str(interval_ms))
    form.get_by_role("button", name="Stream").click()
    row = page.locator("li.job").filter(has_text="demo.stream").first
    return row


def test_the_output_of_a_demo_stream_job_is_shown_whole_across_a_socket_drop(
    page_as: Any, stack: Stack
) -> None:
    words = 1500
    expected = "".join(fable_words(words))
    page = page_as("alice")
    row = start_stream(page, words, interval_ms=2)
    output = row.locator("coucou-output")
    expect(output).to_be_visible()
    # Mid-stream, the socket drops (as a network blip would): coucou.js reconnects and the
    # element fills what it missed over REST.
    wait_for(page, lambda: len(row.evaluate(SHOWN)) > 200, what="some output")
    assert len(row.evaluate(SHOWN)) < len(expected), "the job ended before the drop"
    page.evaluate("window.coucou.socket.close()")
    expect(row.locator(".job-status")).to_have_text("succeeded", timeout=30_000)
    wait_for(page, lambda: row.evaluate(SHOWN) == expected, what="the whole output")
    expect(output).to_have_attribute("data-closed", "")
    assert page.evaluate("window.coucouStates").count("reconnecting") >= 1

    # Open later, the page shows the finished job's output whole, from REST.
    later = page_as("alice")
    again = later.locator(f'li.job[data-job="{row.get_attribute("data-job")}"]')
    wait_for(later, lambda: again.evaluate(SHOWN) == expected, what="the output read over REST")
    screenshot(later, "demo-stream-output")
    assert page.js_errors == [] and later.js_errors == []


def test_autoscroll_follows_only_a_reader_at_the_bottom(page_as: Any, stack: Stack) -> None:
    page = page_as("alice")
    row = start_stream(page, 800, interval_ms=5)
    pre = row.locator("coucou-output pre")
    wait_for(page, lambda: pre.evaluate("(p) => p.scrollHeight > p.clientHeight + 50"), what="overflow")
    at_bottom = "(p) => p.scrollHeight - p.scrollTop - p.clientHeight < 2"
    assert pre.evaluate(at_bottom), "it followed the text while the reader was at the bottom"
    pre.evaluate("(p) => { p.scrollTop = 0; }")
    length = len(pre.evaluate("(p) => p.textContent"))
    wait_for(page, lambda: len(pre.evaluate("(p) => p.textContent")) > length + 100, what="more text")
    assert pre.evaluate("(p) => p.scrollTop") == 0, "it scrolled a reader who had scrolled up"
    expect(row.locator(".job-status")).to_have_text("succeeded", timeout=30_000)
