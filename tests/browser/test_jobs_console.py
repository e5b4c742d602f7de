"""The jobs console in the Django admin, in real Chromium: rows and a job's page follow
console:jobs live, and an operator's Cancel reaches the running job and its owner."""

from __future__ import annotations

import re
from typing import Any

import httpx
from playwright.sync_api import expect

from tests.browser.conftest import screenshot
from tests.live.harness import Stack

CHANGELIST = "/admin/jobs/job/"


def make_operator(stack: Stack, username: str, *codenames: str) -> None:
    code = (
        "from django.contrib.auth.models import Permission, User\n"
        f"user = User.objects.get(username={username!r})\n"
        "user.is_staff = True\n"
        "user.save()\n"
        "perms = Permission.objects.filter(content_type__app_label='jobs')\n"
        f"user.user_permissions.set(perms.filter(codename__in={list(codenames)!r}))\n"
    )
    stack.manage("shell", "-v", "0", "-c", code)


def start(stack: Stack, username: str, task: str, params: dict[str, Any]) -> str:
    response = httpx.post(
        f"{stack.base_url}/api/jobs",
        headers={"Authorization": f"Bearer {stack.token(username)}"},
        json={"task": task, "params": params},
    )
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def open_console(page_as: Any, username: str, path: str = CHANGELIST) -> Any:
    page = page_as(username)  # signed in through the site's own form
    page.goto(path)
    expect(page.locator("#console-live .console-live-text")).to_have_text("Live")
    return page


def test_the_change_list_follows_every_owners_jobs_live(page_as: Any, stack: Stack) -> None:
    make_operator(stack, "erin", "view_job")
    running = start(stack, "bob", "demo.count", {"n": 100, "interval_ms": 50})  # about 5 s
    page = open_console(page_as, "erin")
    status = page.locator(f'.job-status[data-job="{running}"]')
    assert status.text_content() in ("queued", "running")  # as the page was rendered
    # The row moves without a reload: to running with progress (at the row's write rate), then done.
    expect(status).to_have_text("succeeded", timeout=20_000)
    expect(page.locator(f'.job-progress[data-job="{running}"] .job-progress-text')).to_have_text("100 %")
    # A job started after the page loaded is announced, not inserted: the list is the database's.
    start(stack, "alice", "coucou", {})
    expect(page.locator("#console-new")).to_have_text("1 new job(s): reload to see")
    # A viewer sees no action buttons and cannot act.
    assert page.locator("select[name=action] option[value=cancel_jobs]").count() == 0
    screenshot(page, "jobs-console-list")
    assert page.js_errors == []


def test_cancel_on_a_jobs_page_stops_it_and_the_page_shows_it(page_as: Any, stack: Stack) -> None:
    make_operator(stack, "carol", "view_job", "change_job")
    job = start(stack, "bob", "demo.sleep", {"seconds": 30})
    page = open_console(page_as, "carol", f"{CHANGELIST}{job}/change/")
    status = page.locator(f'.job-status[data-job="{job}"]')
    expect(status).to_have_text("running", timeout=20_000)
    page.locator("#console-cancel").click()
    expect(page).to_have_url(re.compile(rf"{CHANGELIST}{job}/change/$"))
    expect(page.locator(".messagelist")).to_contain_text("Asked 1 job(s) to stop; their owners are told.")
    expect(page.locator("#console-live .console-live-text")).to_have_text("Live")
    # The worker stops it at its next check; the status and the timeline follow, live.
    expect(status).to_have_text("cancelled", timeout=20_000)
    expect(page.locator(".job-timeline tbody")).to_contain_text("job.cancelled")
    expect(page.locator("#console-cancel")).to_have_count(0)
    # The owner was told, on their own stream.
    events = httpx.get(
        f"{stack.base_url}/api/jobs/{job}", headers={"Authorization": f"Bearer {stack.token('bob')}"}
    ).json()
    assert events["status"] == "cancelled"
    screenshot(page, "jobs-console-job")
    assert page.js_errors == []
