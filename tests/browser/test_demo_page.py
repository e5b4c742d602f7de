"""The demo page in real Chromium, against real daphne, a real worker and a real Redis."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import NARROW, screenshot, sign_in, wait_until_live
from tests.live.harness import Stack


def start_count(page: Any, n: int, interval_ms: int) -> Any:
    page.get_by_label("Count to").fill(str(n))
    page.get_by_label("Interval (ms)").fill(str(interval_ms))
    page.get_by_role("button", name="Count").click()
    row = page.locator("li.job", has_text="demo.count").first
    expect(row.locator(".job-params")).to_have_text(f"n={n}, interval_ms={interval_ms}")
    return row


def expect_counted(row: Any, n: int) -> None:
    expect(row.locator(".coucou-progress-text")).to_have_text("100 % · done")
    expect(row.get_by_role("progressbar")).to_have_attribute("value", "100")
    expect(row.locator(".job-status")).to_have_text("succeeded")
    expect(row.locator(".job-outcome")).to_have_text(f'Result: {{"counted":{n}}}')


def seqs(page: Any) -> list[int]:
    return page.evaluate("window.coucouLog")


def assert_every_event_once(log: list[int]) -> None:
    assert log, "no event reached the page"
    assert log == list(range(log[0], log[0] + len(log))), f"a duplicate or a hole: {log}"


def test_sign_in_start_each_job_and_see_it_end(new_page: Any) -> None:
    page = new_page()
    sign_in(page, "alice")
    expect(page.get_by_text("No job yet.")).to_be_visible()

    row = start_count(page, 30, 20)
    expect_counted(row, 30)

    page.get_by_role("button", name="Say coucou").click()
    expect(page.locator("#greetings li")).to_contain_text(["coucou alice"])

    page.get_by_label("Message").fill("no luck today")
    page.get_by_role("button", name="Fail").click()
    failed = page.locator("li.job", has_text="demo.fail").first
    expect(failed.locator(".job-status")).to_have_text("failed")
    expect(failed.locator(".job-outcome")).to_have_text("Error: no luck today")

    page.get_by_label("Seconds").fill("0.3")
    page.get_by_role("button", name="Sleep").click()
    slept = page.locator("li.job", has_text="demo.sleep").first
    expect(slept.locator(".job-outcome")).to_have_text('Result: {"slept":0.3}')

    expect(page.locator("li.job")).to_have_count(4)
    expect(page.get_by_role("status")).to_have_text("Live")
    assert_every_event_once(seqs(page))
    screenshot(page, "demo-desktop")
    page.set_viewport_size(NARROW)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "sideways scroll"
    screenshot(page, "demo-narrow")
    assert page.js_errors == []


def test_an_invalid_job_shows_the_apis_reason(page_as: Any) -> None:
    page = page_as("alice")
    jobs = page.locator("li.job").count()
    page.get_by_label("Count to").fill("0")
    page.get_by_role("button", name="Count").click()  # the browser's own validation stops it
    page.wait_for_timeout(200)
    expect(page.locator("li.job")).to_have_count(jobs)

    page.get_by_label("Interval (ms)").evaluate("input => input.removeAttribute('max')")
    page.get_by_label("Count to").fill("5")
    page.get_by_label("Interval (ms)").fill("99999")
    page.get_by_role("button", name="Count").click()
    expect(page.get_by_role("alert")).to_contain_text("Could not start demo.count: interval_ms:")


def test_a_running_job_can_be_cancelled(page_as: Any) -> None:
    page = page_as("erin")
    page.get_by_label("Seconds").fill("60")
    page.get_by_role("button", name="Sleep").click()
    row = page.locator("li.job", has_text="demo.sleep").first
    expect(row.locator(".job-status")).to_have_text("running")
    row.get_by_role("button", name="Cancel demo.sleep").click()
    expect(row.locator(".job-status")).to_have_text("cancelled")
    expect(row.locator(".coucou-progress-text")).to_contain_text("cancelled")
    expect(row.locator(".job-outcome")).to_have_text("The job was cancelled.")
    expect(row.get_by_role("button", name="Cancel demo.sleep")).to_be_hidden()


def test_a_job_survives_a_web_restart_with_every_event_once(page_as: Any, stack: Stack) -> None:
    page = page_as("carol")
    page.evaluate("""() => {
        window.steps = [];
        window.coucou.on("job.progress", (event) => window.steps.push(event.data.current));
    }""")
    row = start_count(page, 40, 100)
    expect(row.locator(".coucou-progress-text")).to_contain_text(re.compile(r"^[1-9]\d? %"))

    web, port = stack.webs[0]
    web.kill()  # the socket drops mid-job; the worker keeps publishing into the stream
    expect(page.get_by_role("status")).to_have_text("Reconnecting…")
    screenshot(page, "demo-reconnecting")
    stack.start_web(port)
    expect(page.get_by_role("status")).to_have_text("Live", timeout=20_000)
    expect_counted(row, 40)

    assert_every_event_once(seqs(page))
    steps = page.evaluate("window.steps")
    assert steps == sorted(set(steps)) and steps[-1] == 40, steps
    states = page.evaluate("window.coucouStates")
    assert states[:2] == ["connecting", "open"] and "reconnecting" in states and states[-1] == "open"
    assert page.js_errors == []


def test_two_tabs_of_one_user_both_follow_a_job(page_as: Any, new_page: Any) -> None:
    first = page_as("alice")
    second = new_page(context=first.context)
    second.goto("/")
    wait_until_live(second)

    row = start_count(first, 20, 25)
    job_id = row.get_attribute("data-job")
    expect_counted(row, 20)
    other = second.locator(f'li.job[data-job="{job_id}"]')
    expect_counted(other, 20)
    expect(other.locator(".job-params")).to_have_text("n=20, interval_ms=25")
    assert_every_event_once(seqs(second))


def test_another_user_sees_nothing_of_it(page_as: Any) -> None:
    alice = page_as("alice")
    bob = page_as("bob")
    expect(bob.get_by_text("No job yet.")).to_be_visible()

    alice.get_by_role("button", name="Say coucou").click()
    expect_counted(start_count(alice, 10, 10), 10)
    expect(alice.locator("#greetings li").first).to_contain_text("coucou alice")

    bob.wait_for_timeout(300)  # a late frame would have arrived by now
    expect(bob.locator("li.job")).to_have_count(0)
    expect(bob.locator("#greetings li")).to_have_count(0)
    assert seqs(bob) == []
    expect(bob.get_by_role("status")).to_have_text("Live")


def test_signing_out_leads_back_to_the_sign_in_form(new_page: Any) -> None:
    page = new_page()
    sign_in(page, "bob")  # a session of its own: signing out ends only this one
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/$"))
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
