"""Child jobs: a body's ``ctx.spawn`` / ``ctx.map``, one progress bar for their parent, and
the parent's end.

A child is a Job of its own (its row, its Celery message, its attempts, its events to the
same owner) with ``parent`` and ``root`` set. A parent whose body returns while children
still run is *awaiting* them: it stays ``running`` without a worker, and the end of its last
child finishes it (the workers' sweep, ``settle_parents``, finishes any whose last child's
end was lost with its worker). Its progress is the aggregate of its children's: finished
children count whole, running ones by their own progress.

Its outcome, by the parent task's ``@job(..., children=...)`` policy:
- ``"fail_fast"`` (the default): the first child that fails (or is cancelled on its own)
  fails the parent at once, and every other child still queued or running is cancelled;
- ``"all_settled"``: the parent waits for every child, then fails if any failed.
Otherwise it succeeds with ``{"body": <what its body returned>, "children": [<each child's
result, in spawn order>]}``. Cancelling a parent cancels every child still queued or running.

Spawning is idempotent per attempt: the n-th child a body spawns has the key
``child:<parent id>:<n>``, so a body run again after its worker died finds the children its
first attempt had started instead of starting them twice. Children do not count against the
owner's ``JOBS_MAX_ACTIVE_PER_USER``: they are one job's work.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Case, Count, F, FloatField, Q, Sum, When
from django.db.models.functions import Least
from redis.exceptions import LockError, RedisError

from jobs import lifecycle
from jobs.context import progress_data
from jobs.exceptions import EnqueueUnavailable, JobCancelled
from jobs.models import Job, JobStatus
from jobs.registry import get_spec
from jobs.services import enqueue
from realtime import publish
from realtime.redis import sync_client

logger = logging.getLogger(__name__)
FAIL_FAST = "fail_fast"
ALL_SETTLED = "all_settled"
POLICIES = (FAIL_FAST, ALL_SETTLED)
# A parent's aggregate is pushed at most this often while children report progress (their
# ends always push it): 100 children writing their rows once a second stay 10 pushes a second.
PUSH_INTERVAL_MS = 100
MAX_CHILDREN = 10_000  # per parent: its result gathers every child's


@dataclass(frozen=True)
class ChildHandle:
    """A child job a body started: its id (``GET /api/jobs/{id}``), task and spawn order."""

    id: str
    task: str
    index: int

    def status(self) -> str:
        return Job.objects.values_list("status", flat=True).get(pk=self.id)


def spawn_many(
    parent_id: str, task: str, params: list[Any], *, first_index: int, again: bool = True
) -> list[ChildHandle]:
    """Create and enqueue children of ``parent_id``; the ones an earlier attempt created are
    found again by their keys, not created twice."""
    spec = get_spec(task)  # UnknownTask for a task that is not registered
    clean = [spec.validate(p) for p in params]  # InvalidParams before anything is created
    parent = Job.objects.only("pk", "owner_id", "channel", "root_id", "status", "cancel_requested_at").get(
        pk=parent_id
    )
    if parent.status != JobStatus.RUNNING or parent.cancel_requested_at is not None:
        # Failed fast, or cancelled, while its body went on: no child of it starts now.
        raise JobCancelled(parent_id)
    if first_index + len(clean) > MAX_CHILDREN:
        raise ValueError(f"a job may start at most {MAX_CHILDREN} children")
    keys = [_key(parent_id, first_index + i) for i in range(len(clean))]
    existing = dict(
        Job.objects.filter(owner_id=parent.owner_id, idempotency_key__in=keys).values_list(
            "idempotency_key", "pk"
        )
    )
    new = [
        Job(
            owner_id=parent.owner_id,
            task=task,
            params=p,
            idempotency_key=key,
            channel=parent.channel,
            parent_id=parent.pk,
            root_id=parent.root_id or parent.pk,
        )
        for key, p in zip(keys, clean, strict=True)
        if key not in existing
    ]
    try:
        with transaction.atomic():
            Job.objects.bulk_create(new, batch_size=500)
            for child in new:
                lifecycle.do_queue(child, patient=True)

            # Sent once the rows are committed (at once, unless the body holds a transaction
            # open): a worker never gets a child it cannot read yet.
            def enqueue_children() -> None:
                for child in new:
                    with contextlib.suppress(EnqueueUnavailable):  # that child is failed, and told
                        enqueue(child, spec, patient=True)

            transaction.on_commit(enqueue_children, robust=True)
    except IntegrityError:  # another delivery of this attempt spawned them at the same moment
        if not again:
            raise
        return spawn_many(parent_id, task, params, first_index=first_index, again=False)
    ids = {**existing, **{child.idempotency_key: child.pk for child in new}}
    return [ChildHandle(str(ids[key]), task, first_index + i) for i, key in enumerate(keys)]


def _key(parent_id: str, index: int) -> str:
    return f"child:{parent_id}:{index}"


def _index(key: str | None) -> int:
    return int(str(key).rsplit(":", 1)[1])


# --- the parent's progress and end ------------------------------------------------------------


def aggregate(parent_id: Any) -> dict[str, Any]:
    """The children of ``parent_id``: how many, by status, and their progress summed."""
    running_fraction = Case(
        When(
            status=JobStatus.RUNNING,
            progress_total__gt=0,
            then=Least(F("progress_current") / F("progress_total"), 1.0),
        ),
        default=0.0,
        output_field=FloatField(),
    )
    row = Job.objects.filter(parent_id=parent_id).aggregate(
        total=Count("pk"),
        queued=Count("pk", filter=Q(status=JobStatus.QUEUED)),
        running=Count("pk", filter=Q(status=JobStatus.RUNNING)),
        succeeded=Count("pk", filter=Q(status=JobStatus.SUCCEEDED)),
        failed=Count("pk", filter=Q(status=JobStatus.FAILED)),
        cancelled=Count("pk", filter=Q(status=JobStatus.CANCELLED)),
        fraction=Sum(running_fraction),
    )
    row["fraction"] = row["fraction"] or 0.0
    return row


def counts(parent_id: Any) -> dict[str, int] | None:
    """The children's count by status (``GET /api/jobs/{id}``), or None for a job without."""
    row = aggregate(parent_id)
    return counts_of(row) if row["total"] else None


def child_progressed(child: Job) -> None:
    """A child wrote its progress: push the parent's aggregate, at most every PUSH_INTERVAL_MS."""
    if child.parent_id is None:
        return
    try:
        due = sync_client().set(f"coucou:job:{child.parent_id}:aggregate", "1", nx=True, px=PUSH_INTERVAL_MS)
    except (RedisError, OSError):
        return  # the next child's end pushes it
    if due:
        _push_aggregate(child.parent_id)


def _push_aggregate(parent_id: Any) -> dict[str, Any]:
    """Read the children's aggregate and push it as the parent's progress. One push at a time
    per parent (a short Redis lock, across workers): each reads the rows after the one before
    it, so the bar only moves forward (save a child run again after its worker died)."""
    try:
        lock: Any = sync_client().lock(
            f"coucou:job:{parent_id}:aggregate-lock", timeout=5, blocking_timeout=2
        )
        held = bool(lock.acquire())
    except (RedisError, OSError):
        lock, held = None, False
    try:
        row = aggregate(parent_id)
        if held:
            _publish_aggregate(parent_id, row)
        return row
    finally:
        if held:
            try:
                lock.release()
            except (RedisError, OSError, LockError):  # expired, or Redis gone: it ends by itself
                pass


def _publish_aggregate(parent_id: Any, row: dict[str, Any]) -> None:
    finished = row["succeeded"] + row["failed"] + row["cancelled"]
    current, total = finished + row["fraction"], float(row["total"] or 1)
    message = f"{finished} of {row['total']} children done"
    parent = Job.objects.only("pk", "owner_id", "channel", "status").get(pk=parent_id)
    if parent.status == JobStatus.RUNNING:
        parent.set_progress(current, total, message)
        data = {**progress_data(current, total, message), "attempt": 0, "children": counts_of(row)}
        try:
            publish(parent.owner_id, "job.progress", data, job=str(parent_id))
        except (RedisError, OSError) as exc:
            logger.warning("could not push the progress of parent job %s: %s", parent_id, exc)


def counts_of(row: dict[str, Any]) -> dict[str, int]:
    return {name: row[name] for name in ("total", "queued", "running", "succeeded", "failed", "cancelled")}


def child_ended(child: Job) -> None:
    """After a child's end is committed: push its parent's aggregate, and end the parent if
    this settles it."""
    if child.parent_id is not None:
        settle(child.parent_id, ended=child)


def settle(parent_id: Any, *, ended: Job | None = None) -> None:
    """End the parent ``parent_id`` if its children and body decide it; else push its progress."""
    parent = Job.objects.filter(pk=parent_id, status=JobStatus.RUNNING).first()
    if parent is None:
        return  # ended already (cancelled, failed fast, or settled by a racing child)
    # Read before its children: a child's end and the parent's await each settle after their
    # own commit, so one of them sees both (jobs/lifecycle.py, do_await_children).
    row = _push_aggregate(parent_id)
    policy = get_spec(parent.task).children
    unsuccessful = row["failed"] + row["cancelled"]
    if policy == FAIL_FAST and unsuccessful:
        failed_now = ended is not None and ended.status != JobStatus.SUCCEEDED
        error = _child_error(ended if failed_now else _first_unsuccessful(parent))
        if lifecycle.do_fail(parent, error):  # which cancels the other children
            _stop_body(parent)
        return
    if row["queued"] or row["running"] or not parent.awaiting_children:
        return
    if unsuccessful:
        message = f"{unsuccessful} of {row['total']} children did not succeed"
        lifecycle.do_fail(parent, {"type": "ChildrenFailed", "message": message})
        return
    keyed = Job.objects.filter(parent_id=parent.pk).values_list("idempotency_key", "result")
    in_spawn_order = sorted(keyed, key=lambda pair: _index(pair[0]))
    lifecycle.do_succeed(
        parent, {"body": parent.result, "children": [result for _, result in in_spawn_order]}
    )


def _first_unsuccessful(parent: Job) -> Job | None:
    return (
        Job.objects.filter(parent_id=parent.pk, status__in=(JobStatus.FAILED, JobStatus.CANCELLED))
        .order_by("finished_at")
        .first()
    )


def _child_error(child: Job | None) -> dict[str, str]:
    if child is None:
        return {"type": "ChildFailed", "message": "a child job did not succeed"}
    why = (child.error or {}).get("message") or child.status
    return {"type": "ChildFailed", "message": f"child job {child.pk} ({child.task}) {child.status}: {why}"}


def _stop_body(parent: Job) -> None:
    if not parent.awaiting_children:
        from jobs.supervision import request_cancel

        request_cancel(str(parent.pk))  # its body stops at its next check; its end then loses


def settle_parents() -> int:
    """For the workers' sweep: settle parents awaiting children none of which is still active
    (their last child's end was lost with its worker); return how many."""
    stuck = Job.objects.filter(status=JobStatus.RUNNING, awaiting_children=True).exclude(
        children__status__in=(JobStatus.QUEUED, JobStatus.RUNNING)
    )
    settled = 0
    for parent_id in stuck.values_list("pk", flat=True)[:100]:
        try:
            settle(parent_id)
        except Exception as exc:  # noqa: BLE001 - one bad parent must not stall the others
            logger.warning("could not settle parent job %s: %s", parent_id, exc)
            continue
        settled += 1
    return settled
