"""Child jobs (jobs/children.py): ctx.spawn / ctx.map, one bar for the parent, and its end by
its policy, run in-process against real Redis and a committed database."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from jobs import job
from jobs.children import settle_parents
from jobs.context import JobContext
from jobs.models import Job, JobStatus
from jobs.reaper import reap_lost_jobs
from jobs.runtime import execute, recover_lost
from jobs.services import job_cancel, job_submit
from tests.conftest import broker_messages, events_of, make_job

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("redis_db")]


def fanout(owner: Any, **params: Any) -> Job:
    parent = make_job(
        owner=owner, task="demo.fanout", params={"children": 3, "steps": 4, "interval_ms": 0, **params}
    )
    execute(str(parent.pk), task_name="demo.fanout")
    parent.refresh_from_db()
    return parent


def children_of(parent: Job) -> list[Job]:
    return sorted(
        Job.objects.filter(parent=parent), key=lambda child: int(child.idempotency_key.rsplit(":", 1)[1])
    )


def run(child: Job) -> Job:
    execute(str(child.pk), task_name=child.task)
    child.refresh_from_db()
    return child


def of_job(owner: Any, job_id: Any, type: str | None = None) -> list[dict[str, Any]]:
    return [e for e in events_of(owner) if e["job"] == str(job_id) and (type is None or e["type"] == type)]


def test_a_body_that_maps_starts_children_and_awaits_them(alice, redis_db):
    parent = fanout(alice)
    kids = children_of(parent)
    assert [(c.task, c.owner, c.status, c.root_id, c.params) for c in kids] == [
        ("demo.count", alice, JobStatus.QUEUED, parent.pk, {"n": 4, "interval_ms": 0})
    ] * 3
    # Still running, held by no worker, with what the body returned.
    assert (parent.status, parent.awaiting_children, parent.result) == (
        JobStatus.RUNNING,
        True,
        {"children": 3},
    )
    assert {m["headers"]["id"] for m in broker_messages(redis_db)} == {str(c.pk) for c in kids}
    [queued] = of_job(alice, kids[0].pk, "job.queued")
    assert queued["data"] == {"task": "demo.count", "attempt": 0, "parent": str(parent.pk)}
    assert of_job(alice, parent.pk, "job.succeeded") == []


def test_the_parent_succeeds_once_every_child_has_gathering_their_results(alice):
    parent = fanout(alice)
    for child in children_of(parent):
        assert run(child).status == JobStatus.SUCCEEDED
    parent.refresh_from_db()
    assert parent.status == JobStatus.SUCCEEDED
    assert parent.result == {"body": {"children": 3}, "children": [{"counted": 4}] * 3}
    assert (parent.progress_current, parent.progress_total, parent.percent) == (3, 3, 100.0)
    bar = [e["data"] for e in of_job(alice, parent.pk, "job.progress")]
    assert [round(d["percent"]) for d in bar][-3:] == [33, 67, 100]  # one push per child's end, at least
    assert bar[-1]["children"] == {
        "total": 3,
        "queued": 0,
        "running": 0,
        "succeeded": 3,
        "failed": 0,
        "cancelled": 0,
    }
    assert [e["type"] for e in of_job(alice, parent.pk)][-1] == "job.succeeded"


def test_fail_fast_fails_the_parent_at_the_first_failure_and_cancels_the_rest(alice):
    parent = fanout(alice, children=4, fail=[3])
    kids = children_of(parent)
    assert [c.task for c in kids] == ["demo.count"] * 3 + ["demo.fail"]
    run(kids[0])
    assert run(kids[3]).status == JobStatus.FAILED
    parent.refresh_from_db()
    assert parent.status == JobStatus.FAILED
    assert parent.error["type"] == "ChildFailed" and "child 3 fails" in parent.error["message"]
    assert [Job.objects.get(pk=c.pk).status for c in kids] == [
        "succeeded",
        "cancelled",
        "cancelled",
        "failed",
    ]
    assert run(kids[1]).status == JobStatus.CANCELLED  # its late delivery does nothing


@pytest.fixture
def settled_job(scratch_registry: Any) -> str:
    @job("test.settled", children="all_settled")
    def settled(ctx: JobContext) -> str:
        ctx.spawn("demo.fail", {"message": "one of three"})
        ctx.map("demo.count", [{"n": 1}, {"n": 2}])
        return "spawned"

    return "test.settled"


def test_all_settled_waits_for_every_child_then_fails(alice, settled_job):
    parent = make_job(owner=alice, task=settled_job, params={})
    execute(str(parent.pk), task_name=settled_job)
    kids = children_of(parent)
    run(kids[0])
    parent.refresh_from_db()
    assert parent.status == JobStatus.RUNNING  # the others still run
    for child in kids[1:]:
        assert run(child).status == JobStatus.SUCCEEDED
    parent.refresh_from_db()
    assert (parent.status, parent.error) == (
        JobStatus.FAILED,
        {"type": "ChildrenFailed", "message": "1 of 3 children did not succeed"},
    )


def test_cancelling_a_parent_cancels_every_child_still_active(alice, redis_db):
    parent = fanout(alice, children=3)
    kids = children_of(parent)
    run(kids[0])
    Job.objects.filter(pk=kids[1].pk).update(status=JobStatus.RUNNING, attempts=1)  # as if a worker ran it
    job_cancel(owner=alice, job_id=parent.pk)
    parent.refresh_from_db()
    statuses = {c.pk: Job.objects.get(pk=c.pk) for c in kids}
    assert parent.status == JobStatus.CANCELLED
    assert statuses[kids[0].pk].status == JobStatus.SUCCEEDED
    assert statuses[kids[1].pk].status == JobStatus.RUNNING and statuses[kids[1].pk].cancel_requested_at
    assert statuses[kids[2].pk].status == JobStatus.CANCELLED
    assert [e["type"] for e in of_job(alice, parent.pk)][-1] == "job.cancelled"


def test_a_parent_run_again_after_its_worker_died_does_not_start_its_children_twice(alice):
    parent = fanout(alice, children=3)
    first = {c.pk for c in children_of(parent)}
    # Its worker died mid-body: recovered, run again, it maps the same three.
    Job.objects.filter(pk=parent.pk).update(awaiting_children=False)
    parent.refresh_from_db()
    recover_lost(parent)
    execute(str(parent.pk), task_name="demo.fanout")
    assert {c.pk for c in children_of(parent)} == first
    for child in children_of(parent):
        run(child)
    parent.refresh_from_db()
    assert (parent.status, parent.attempts) == (JobStatus.SUCCEEDED, 2)


def test_children_do_not_count_against_the_owners_cap(alice, settings):
    settings.JOBS_MAX_ACTIVE_PER_USER = 2
    parent = fanout(alice, children=5)
    assert len(children_of(parent)) == 5


def test_the_reaper_leaves_an_awaiting_parent_alone_and_the_sweep_settles_a_stuck_one(alice):
    parent = fanout(alice, children=2)
    long_ago = timezone.now() - timedelta(hours=1)
    Job.objects.filter(pk=parent.pk).update(started_at=long_ago)
    assert reap_lost_jobs() == 0  # no heartbeat, and none expected while it awaits
    assert Job.objects.get(pk=parent.pk).attempts == 1
    # Its children ended, but the end that should settle it was lost with its worker.
    Job.objects.filter(parent=parent).update(status=JobStatus.SUCCEEDED, result={"counted": 4})
    assert Job.objects.get(pk=parent.pk).status == JobStatus.RUNNING
    assert settle_parents() == 1
    assert Job.objects.get(pk=parent.pk).status == JobStatus.SUCCEEDED


def test_rest_shows_a_parents_children_by_status_and_lists_them(alice, bob):
    from api.tokens import create_token

    parent = fanout(alice, children=3)
    kids = children_of(parent)
    run(kids[0])
    client = Client(HTTP_AUTHORIZATION=f"Bearer {create_token(user=alice)}")
    shown = client.get(f"/api/jobs/{parent.pk}").json()
    assert shown["children"] == {
        "total": 3,
        "queued": 2,
        "running": 0,
        "succeeded": 1,
        "failed": 0,
        "cancelled": 0,
    }
    assert (shown["parent"], shown["root"]) == (None, None)
    listed = client.get(f"/api/jobs?parent={parent.pk}").json()
    assert {item["id"] for item in listed["items"]} == {str(c.pk) for c in kids}
    assert {(item["parent"], item["root"], item["children"]) for item in listed["items"]} == {
        (str(parent.pk), str(parent.pk), None)
    }
    other = Client(HTTP_AUTHORIZATION=f"Bearer {create_token(user=bob)}")
    assert other.get(f"/api/jobs/{parent.pk}").status_code == 404
    assert other.get(f"/api/jobs?parent={parent.pk}").json()["items"] == []


def test_spawning_an_unknown_task_or_bad_params_fails_the_parent_and_starts_nothing(alice, scratch_registry):
    @job("test.badspawn")
    def bad(ctx: JobContext) -> None:
        ctx.map("demo.count", [{"n": 1}, {"n": 0}])

    parent = make_job(owner=alice, task="test.badspawn", params={})
    execute(str(parent.pk), task_name="test.badspawn")
    parent.refresh_from_db()
    assert (parent.status, parent.error["type"]) == (JobStatus.FAILED, "InvalidParams")
    assert not Job.objects.filter(parent=parent).exists()


def test_a_submitted_job_is_nobodys_child(alice):
    submitted = job_submit(owner=alice, task="demo.count", params={"n": 1})
    assert (submitted.parent_id, submitted.root_id) == (None, None)


# --- races and edges (from review) -----------------------------------------------------------


def test_a_cancel_asked_while_the_body_ran_is_carried_out_once_it_returns(alice, scratch_registry):
    @job("test.cancelled_midway")
    def midway(ctx: JobContext) -> str:
        ctx.map("demo.count", [{"n": 1}, {"n": 1}])
        job_cancel(owner=ctx.owner, job_id=ctx.job_id)  # the owner's cancel, before any check
        return "returned anyway"

    parent = make_job(owner=alice, task="test.cancelled_midway", params={})
    execute(str(parent.pk), task_name="test.cancelled_midway")
    parent.refresh_from_db()
    assert parent.status == JobStatus.CANCELLED
    assert {c.status for c in children_of(parent)} == {JobStatus.CANCELLED}


def test_cancelling_a_parent_whose_body_just_returned_cancels_it(alice):
    parent = fanout(alice, children=2)
    assert parent.awaiting_children
    job_cancel(owner=alice, job_id=parent.pk)
    assert Job.objects.get(pk=parent.pk).status == JobStatus.CANCELLED


def test_a_late_delivery_or_the_reaper_leaves_an_awaiting_parent_alone(alice):
    parent = fanout(alice, children=2)
    execute(str(parent.pk), task_name="demo.fanout")  # a redelivery, long after its claim
    recover_lost(parent)  # the reaper, having read it before its body returned
    parent.refresh_from_db()
    assert (parent.status, parent.attempts, parent.awaiting_children) == (JobStatus.RUNNING, 1, True)
    assert [e["type"] for e in of_job(alice, parent.pk)].count("job.retrying") == 0


def test_children_spawned_inside_the_bodys_transaction_are_sent_when_it_commits(
    alice, redis_db, scratch_registry
):
    from django.db import transaction

    seen: list[int] = []

    @job("test.atomic_spawn")
    def atomic_spawn(ctx: JobContext) -> None:
        with transaction.atomic():
            ctx.map("demo.count", [{"n": 1}])
            seen.append(len(broker_messages(redis_db)))  # not before the rows are committed

    parent = make_job(owner=alice, task="test.atomic_spawn", params={})
    execute(str(parent.pk), task_name="test.atomic_spawn")
    [child] = children_of(parent)
    assert seen == [0]
    assert [m["headers"]["id"] for m in broker_messages(redis_db)] == [str(child.pk)]


def test_a_parents_children_do_not_count_against_the_owners_next_submit(alice, settings):
    settings.JOBS_MAX_ACTIVE_PER_USER = 2
    fanout(alice, children=5)  # one top-level job active, five children queued
    assert job_submit(owner=alice, task="demo.count", params={"n": 1}).status == JobStatus.QUEUED


def test_a_body_that_spawns_after_its_parent_failed_starts_nothing(alice, scratch_registry):
    @job("test.late_spawn")
    def late(ctx: JobContext) -> None:
        ctx.spawn("demo.count", {"n": 1})
        Job.objects.filter(pk=ctx.job_id).update(status=JobStatus.FAILED)  # failed fast meanwhile
        ctx.spawn("demo.count", {"n": 1})

    parent = make_job(owner=alice, task="test.late_spawn", params={})
    execute(str(parent.pk), task_name="test.late_spawn")
    assert len(children_of(parent)) == 1


def test_retention_keeps_a_finished_parent_while_a_child_is_still_active(alice):
    from jobs.retention import purge_finished

    parent = fanout(alice, children=2)
    old = timezone.now() - timedelta(days=90)
    Job.objects.filter(pk=parent.pk).update(status=JobStatus.FAILED, finished_at=old)
    assert purge_finished(older_than=timedelta(days=30)) == 0
    Job.objects.filter(parent=parent).update(status=JobStatus.CANCELLED, finished_at=old)
    assert purge_finished(older_than=timedelta(days=30)) == 3
