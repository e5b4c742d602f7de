"""On real processes: a job alice starts on ``team:<id>`` reaches bob's socket through the
team's channel, from a real Celery worker, over a real WebSocket."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.live.harness import Stack, frames_until, job_ended, recv_json, running_stack

pytestmark = [pytest.mark.live, pytest.mark.asyncio]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(Path(tmp_path_factory.mktemp("teams"))) as live:
        yield live


async def received_within(ws: Any, seconds: float) -> list[dict[str, Any]]:
    frames = []
    try:
        while True:
            frames.append(await recv_json(ws, seconds))
    except TimeoutError:
        return frames


def make_team(stack: Stack, *usernames: str) -> int:
    code = (
        "from django.contrib.auth.models import User\n"
        "from teams.models import Team\n"
        "team = Team.objects.create(name='Night shift', slug='night-shift')\n"
        f"team.members.add(*User.objects.filter(username__in={list(usernames)!r}))\n"
        "print(team.pk)\n"
    )
    return int(stack.manage("shell", "-v", "0", "-c", code).strip().splitlines()[-1])


async def test_a_member_hears_the_job_another_member_started_on_the_team(stack: Stack) -> None:
    alice, bob, carol = stack.token("alice"), stack.token("bob"), stack.token("carol")
    team = make_team(stack, "alice", "bob")
    channel = f"team:{team}"
    async with stack.ws(bob) as bob_ws, stack.ws(carol) as carol_ws, stack.http(alice) as http:
        assert (await recv_json(bob_ws))["type"] == "hello"
        await recv_json(carol_ws)
        await bob_ws.send(f'{{"type": "subscribe", "channel": "{channel}"}}')
        subscribed = await recv_json(bob_ws)
        assert (subscribed["type"], subscribed["channel"]) == ("subscribed", channel)
        await carol_ws.send(f'{{"type": "subscribe", "channel": "{channel}"}}')
        assert (await recv_json(carol_ws))["code"] == "forbidden"

        async with stack.http(carol) as outsider:
            refused = await outsider.post(
                "/api/jobs", json={"task": "coucou", "params": {}, "channel": channel}
            )
        assert refused.status_code == 403
        response = await http.post(
            "/api/jobs",
            json={"task": "demo.count", "params": {"n": 20, "interval_ms": 5}, "channel": channel},
        )
        assert response.status_code == 202, response.text
        job_id = response.json()["id"]
        assert response.json()["channel"] == channel
        frames = await frames_until(bob_ws, job_ended(job_id))
        assert await received_within(carol_ws, 0.5) == []  # not a member: not a frame of it

    events = [f for f in frames if f.get("job") == job_id]
    assert all(f["channel"] == channel for f in events)
    types = [f["type"] for f in events]
    assert types[:2] == ["job.queued", "job.started"] and types[-1] == "job.succeeded"
    assert "job.progress" in types
    assert [f["seq"] for f in events] == sorted(f["seq"] for f in events)
    assert events[-1]["data"]["result"] == {"counted": 20}
    # Bob's own stream got nothing: the job is alice's, he heard it through the team.
    assert not [f for f in frames if "channel" not in f and f.get("job") == job_id]
