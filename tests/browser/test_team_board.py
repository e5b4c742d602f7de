"""A team's job board in real Chromium: a job bob starts on team:<id> moves on alice's board."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.sync_api import expect

from tests.browser.conftest import NARROW, screenshot
from tests.live.harness import Stack


def new_team(stack: Stack, name: str, *members: str) -> int:
    code = (
        "from django.contrib.auth.models import User\n"
        "from teams.models import Team\n"
        f"team = Team.objects.create(name={name!r}, slug={name.lower().replace(' ', '-')!r})\n"
        f"team.members.add(*User.objects.filter(username__in={list(members)!r}))\n"
        "print(team.pk)\n"
    )
    return int(stack.manage("shell", "-v", "0", "-c", code).strip().splitlines()[-1])


def open_board(page_as: Any, username: str, team: int) -> Any:
    page = page_as(username)  # signed in, on the demo page
    page.goto(f"/teams/{team}/")
    expect(page.get_by_role("status")).to_have_text("Live")
    return page


def test_a_job_started_on_the_team_moves_on_every_members_board(page_as: Any, stack: Stack) -> None:
    team = new_team(stack, "Night shift", "alice", "bob")
    alice = open_board(page_as, "alice", team)
    expect(alice.get_by_text("No job on this team yet.")).to_be_visible()
    expect(alice.locator("#presence li")).to_have_text(["alice"])

    response = httpx.post(
        f"{stack.base_url}/api/jobs",
        headers={"Authorization": f"Bearer {stack.token('bob')}"},
        json={"task": "demo.count", "params": {"n": 40, "interval_ms": 25}, "channel": f"team:{team}"},
    )
    assert response.status_code == 202, response.text
    row = alice.locator(f'li.job[data-job="{response.json()["id"]}"]')
    expect(row.locator(".job-task")).to_have_text("demo.count")
    expect(row.locator(".job-status")).to_have_text("succeeded")
    expect(row.locator(".board-progress-text")).to_have_text("100 %")
    expect(row.locator(".job-owner")).to_have_text("by bob")  # from the database, once heard of

    # Bob's board shows it too, from the page and the channel's history, and both see each other.
    bob = open_board(page_as, "bob", team)
    expect(bob.locator("li.job .job-status")).to_have_text(["succeeded"])
    for page in (alice, bob):
        expect(page.locator("#presence li")).to_have_text(["alice", "bob"])
    bob.close()
    expect(alice.locator("#presence li")).to_have_text(["alice"], timeout=20_000)

    screenshot(alice, "team-board-desktop")
    alice.set_viewport_size(NARROW)
    assert alice.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "sideways scroll"
    screenshot(alice, "team-board-narrow")
    assert alice.js_errors == []


def test_a_non_member_gets_404(page_as: Any, stack: Stack) -> None:
    team = new_team(stack, "Day shift", "alice")
    page = page_as("carol")
    response = page.goto(f"/teams/{team}/")
    assert response is not None and response.status == 404
