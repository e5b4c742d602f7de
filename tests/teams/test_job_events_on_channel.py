"""A job started on a channel: its job.* events in the owner's stream and in the channel's."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from jobs import job
from jobs.models import Job, JobStatus
from jobs.runtime import execute
from jobs.services import job_cancel, job_submit
from realtime.groups import channel_stream
from realtime.stream import read_after, read_stream
from tests.conftest import make_job
from tests.teams.conftest import make_team

# Committed for real: a transition's event leaves on commit (jobs/lifecycle.py), as in a worker.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("redis_db")]


def owner_frames(user: Any) -> list[dict[str, Any]]:
    return [orjson.loads(frame) for _, frame in read_after(user.pk, 0, 100).frames]


def team_frames(team: Any) -> list[dict[str, Any]]:
    history = read_stream(channel_stream("team", str(team.pk)), 0, 100)
    assert not history.resync
    return [orjson.loads(frame) for _, frame in history.frames]


def test_every_job_event_goes_to_the_owner_and_to_the_team(alice, bob, django_capture_on_commit_callbacks):
    team = make_team(members=(alice, bob))
    with django_capture_on_commit_callbacks(execute=True):
        submitted = job_submit(owner=alice, task="demo.count", params={"n": 3}, channel=f"team:{team.pk}")
    execute(str(submitted.id), task_name="demo.count")

    mine, shared = owner_frames(alice), team_frames(team)
    types = [f["type"] for f in mine]
    assert types[:2] == ["job.queued", "job.started"] and types[-1] == "job.succeeded"
    assert [f["type"] for f in shared] == types
    # The same events, numbered in each stream on its own; a channel's frames name it.
    assert [(f["job"], f["data"]) for f in shared] == [(f["job"], f["data"]) for f in mine]
    assert all(f["channel"] == f"team:{team.pk}" for f in shared)
    assert [f["seq"] for f in shared] == list(range(1, len(shared) + 1))
    assert shared[-1]["data"] == {"result": {"counted": 3}, "attempt": 1}
    # Bob's own stream is his: the team's jobs reach him only through the channel.
    assert owner_frames(bob) == []


def test_a_job_without_a_channel_writes_to_no_channel(alice, redis_db):
    team = make_team(members=(alice,))
    row = make_job(owner=alice, task="demo.count", params={"n": 2, "interval_ms": 0})
    execute(str(row.id), task_name="demo.count")
    assert owner_frames(alice)[-1]["type"] == "job.succeeded"
    assert not redis_db.keys("coucou:{c:team:*")  # (reading a stream makes its head: check first)
    assert team_frames(team) == []


def test_failure_and_cancellation_reach_the_team_too(alice, django_capture_on_commit_callbacks):
    team = make_team(members=(alice,))
    failing = make_job(owner=alice, task="demo.fail", params={"message": "nope"}, channel=team.channel)
    execute(str(failing.id), task_name="demo.fail")
    with django_capture_on_commit_callbacks(execute=True):
        queued = job_submit(owner=alice, task="demo.sleep", params={"seconds": 1}, channel=team.channel)
    job_cancel(owner=alice, job_id=queued.id)

    shared = [(f["job"], f["type"]) for f in team_frames(team)]
    assert shared == [
        (str(failing.id), "job.started"),
        (str(failing.id), "job.failed"),
        (str(queued.id), "job.queued"),
        (str(queued.id), "job.cancelled"),
    ]
    queued.refresh_from_db()
    assert queued.status == JobStatus.CANCELLED


@pytest.mark.usefixtures("scratch_registry")
def test_events_a_body_pushes_stay_the_owners(alice):
    @job("tests.whisper", description="Pushes an event of its own.")
    def whisper(ctx):
        ctx.push("whisper", {"to": "the owner only"})

    team = make_team(members=(alice,))
    row = Job.objects.create(owner=alice, task="tests.whisper", channel=team.channel)
    execute(str(row.id), task_name="tests.whisper")
    assert "whisper" in [f["type"] for f in owner_frames(alice)]
    assert [f["type"] for f in team_frames(team)] == ["job.started", "job.succeeded"]


def test_teams_do_not_hear_each_others_jobs(alice, bob):
    night, day = make_team(members=(alice,)), make_team(name="Day shift", members=(bob,))
    for owner, team in ((alice, night), (bob, day)):
        row = make_job(
            owner=owner, task="demo.count", params={"n": 1, "interval_ms": 0}, channel=team.channel
        )
        execute(str(row.id), task_name="demo.count")
        assert {f["job"] for f in team_frames(team)} == {str(row.id)}
    assert {f["job"] for f in owner_frames(alice)}.isdisjoint({f["job"] for f in owner_frames(bob)})


def test_a_channel_whose_namespace_is_gone_fails_nothing(alice, scratch_namespaces, caplog):
    from realtime import namespaces

    team = make_team(members=(alice,))
    row = make_job(owner=alice, task="demo.count", params={"n": 1, "interval_ms": 0}, channel=team.channel)
    del namespaces._registry["team"]  # e.g. the teams app was removed while the job was queued
    execute(str(row.id), task_name="demo.count")
    row.refresh_from_db()
    assert row.status == JobStatus.SUCCEEDED
    assert owner_frames(alice)[-1]["type"] == "job.succeeded"
    assert "no namespace 'team'" in caplog.text
