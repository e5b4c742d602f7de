"""A team member's socket hears the jobs another member starts on ``team:<id>`` (in-process ASGI)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from api.tokens import create_token
from jobs.runtime import execute
from jobs.services import job_submit
from tests.realtime.conftest import bearer, receive, socket
from tests.teams.conftest import make_team

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("redis_db"),
]


def start_and_run(owner: Any, channel: str) -> str:
    job = job_submit(owner=owner, task="demo.count", params={"n": 3}, channel=channel)  # commits at once
    execute(str(job.id), task_name="demo.count")
    return str(job.id)


async def test_a_member_hears_another_members_job_on_the_team_channel(alice, bob):
    team = await asyncio.to_thread(make_team, members=(alice, bob))
    token = await asyncio.to_thread(create_token, user=bob)
    async with socket(headers=bearer(token)) as comm:
        assert (await receive(comm))["type"] == "hello"
        await comm.send_json_to({"type": "subscribe", "channel": team.channel})
        assert (await receive(comm))["type"] == "subscribed"
        job_id = await asyncio.to_thread(start_and_run, alice, team.channel)
        frames = []
        while not frames or frames[-1]["type"] != "job.succeeded":
            frame = await receive(comm)
            if frame["type"].startswith("presence."):
                continue
            frames.append(frame)
    assert all(f["channel"] == team.channel and f["job"] == job_id for f in frames)
    types = [f["type"] for f in frames]
    assert types[:2] == ["job.queued", "job.started"] and set(types[2:-1]) == {"job.progress"}
    assert frames[-1]["data"] == {"result": {"counted": 3}, "attempt": 1}


async def test_a_non_member_may_not_subscribe_and_hears_nothing(alice, bob):
    team = await asyncio.to_thread(make_team, members=(alice,))
    token = await asyncio.to_thread(create_token, user=bob)
    async with socket(headers=bearer(token)) as comm:
        await receive(comm)
        await comm.send_json_to({"type": "subscribe", "channel": team.channel})
        error = await receive(comm)
        assert (error["type"], error["code"], error["channel"]) == ("error", "forbidden", team.channel)
        await asyncio.to_thread(start_and_run, alice, team.channel)
        assert await comm.receive_nothing(timeout=0.3)
