"""Every status change of a Job, in one place (Zulip's ``do_*`` actions and
``send_event_on_commit`` are the model).

Each ``do_*`` function is one transition: a conditional UPDATE that only one of several racing
writers wins (a cancel against a worker, the reaper against a redelivery), then, once that
change is committed, its event to the owner's stream, the job's channel and the operators'
feed, and its metric. The loser gets False and sends nothing. Callers decide which
transition a situation calls for (jobs/runtime.py: a body's outcome and the retry policy;
jobs/services.py: submit and cancel); nothing else writes a Job's status.

Inside a caller's transaction (a view under ``ATOMIC_REQUESTS``, an admin action), events wait
for its commit and are dropped with its rollback. Sending never raises into the caller: the
Job row is the truth, and an event Redis cannot take is logged and counted. In a worker a
lifecycle event waits out a Redis restart (``patient``, up to ``EVENT_RETRY_S``); on the web
it is tried once, so that a request never hangs on Redis.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.utils import timezone
from redis.exceptions import RedisError

from jobs import console, metrics
from jobs.models import Job, JobStatus
from jobs.sharing import shared
from realtime import ChannelError, publish, publish_to

logger = logging.getLogger(__name__)
EVENT_RETRY_S = 30.0
ACTIVE = (JobStatus.QUEUED, JobStatus.RUNNING)


def send_event_on_commit(job: Job, type: str, data: dict[str, Any], *, patient: bool = False) -> None:
    """Send ``type`` for ``job`` to its owner, its channel and the console once the current
    transaction commits (at once outside one)."""
    owner_id, job_id, channel = job.owner_id, str(job.pk), job.channel

    # A named function, not a partial: Django's robust on_commit logs the callback's __qualname__.
    def send_job_event() -> None:
        _send(owner_id, job_id, channel, type, data, patient=patient)

    transaction.on_commit(send_job_event, robust=True)


def _send(
    owner_id: int, job_id: str, channel: str | None, type: str, data: dict[str, Any], *, patient: bool
) -> None:
    deadline = time.monotonic() + (EVENT_RETRY_S if patient else 0.0)
    publish_until(deadline, publish, owner_id, type, data, job_id)
    if channel is not None and shared(type):
        publish_until(deadline, publish_to, channel, type, data, job_id)
    if shared(type):
        console.tell(job_id, type, data)  # once: the operators' page reloads the row anyway


def publish_until(
    deadline: float, send: Callable[..., int], to: int | str, type: str, data: dict[str, Any], job_id: str
) -> None:
    """``send`` one event, trying again every 0.5 s while Redis does not answer, until ``deadline``."""
    while True:
        try:
            send(to, type, data, job=job_id)
            return
        except ChannelError as exc:  # its namespace is no longer declared: retrying cannot help
            logger.error("could not publish %s for job %s: %s", type, job_id, exc)
            metrics.publish_failed("lifecycle")
            return
        except (RedisError, OSError) as exc:
            if time.monotonic() > deadline:
                logger.error("could not publish %s for job %s: %s", type, job_id, exc)
                metrics.publish_failed("lifecycle")
                return
            time.sleep(0.5)


def _transition(job: Job, allowed: tuple[str, ...], *, held: bool = False, **fields: Any) -> bool:
    """Apply ``fields`` to ``job``'s row only if its status is still one of ``allowed`` (and,
    with ``held``, a worker holds it: not a parent awaiting its children); on a lost race,
    ``job`` is refreshed to what won."""
    rows = Job.objects.filter(pk=job.pk, status__in=allowed)
    if held:
        rows = rows.filter(awaiting_children=False)
    updated = rows.update(**fields)
    if updated:
        for name, value in fields.items():
            setattr(job, name, value)
    else:
        job.refresh_from_db()
    return bool(updated)


# --- the transitions ------------------------------------------------------------------------


def do_queue(job: Job, *, patient: bool = False) -> None:
    """A new Job's first event (its row was just created queued): sent before its message."""
    data: dict[str, Any] = {"task": job.task, "attempt": 0}
    if job.parent_id is not None:
        data["parent"] = str(job.parent_id)
    send_event_on_commit(job, "job.queued", data, patient=patient)


def do_start(job_id: str, *, task: str, worker: str, before_event: Callable[[Job], None]) -> Job | None:
    """queued → running, for one delivery of ``task``: the Job, or None when it was not queued
    (``Job.objects.claim``). ``before_event`` runs between the claim and ``job.started``: the
    worker's heartbeat goes first, so that a job whose event waits on Redis never looks lost."""
    job = Job.objects.claim(job_id, task=task)
    if job is None:
        return None
    before_event(job)
    send_event_on_commit(job, "job.started", {"attempt": job.attempts, "worker": worker}, patient=True)
    return job


def do_succeed(job: Job, result: Any) -> bool:
    """running → succeeded, with ``result``."""
    won = _transition(
        job,
        (JobStatus.RUNNING,),
        status=JobStatus.SUCCEEDED,
        result=result,
        error=None,  # a failed attempt before this one is not the job's error
        finished_at=timezone.now(),
    )
    if won:
        metrics.ended(job.task, "succeeded")
        send_event_on_commit(job, "job.succeeded", {"result": result, "attempt": job.attempts}, patient=True)
        _parent_hears_on_commit(job)
    return won


def do_fail(job: Job, error: dict[str, str], *, patient: bool = True, held: bool = False) -> bool:
    """queued or running → failed, with ``error`` (``type``, ``message``); with ``held``, not
    a parent awaiting its children (the reaper's view: only a held job can lose its worker)."""
    won = _transition(
        job, ACTIVE, held=held, status=JobStatus.FAILED, error=error, finished_at=timezone.now()
    )
    if won:
        metrics.ended(job.task, "failed")
        _children_go_on_commit(job)
        send_event_on_commit(job, "job.failed", {"error": error, "attempt": job.attempts}, patient=patient)
        _parent_hears_on_commit(job)
    return won


def do_cancel(job: Job, *, forced: bool = False, patient: bool = True, held: bool = False) -> bool:
    """queued or running → cancelled; ``forced`` when the body was stopped by force or its
    worker died after the cancel was asked for. Its children still active are cancelled too."""
    now = timezone.now()
    asked = job.cancel_requested_at or now
    won = _transition(
        job, ACTIVE, held=held, status=JobStatus.CANCELLED, cancel_requested_at=asked, finished_at=now
    )
    if won:
        metrics.ended(job.task, "cancelled")
        if forced:
            metrics.forced_cancel(job.task)
        _children_go_on_commit(job)
        data = {"attempt": job.attempts, "forced": forced}
        send_event_on_commit(job, "job.cancelled", data, patient=patient)
        _parent_hears_on_commit(job)
    return won


def do_retry(job: Job, error: dict[str, str], *, delay: float, reason: str, held: bool = False) -> bool:
    """running → queued again after a failed attempt (``reason``: error or worker_lost), its
    Celery message sent ``delay`` seconds ahead once that is committed."""
    won = _transition(
        job, (JobStatus.RUNNING,), held=held, status=JobStatus.QUEUED, error=error, awaiting_children=False
    )
    if won:
        metrics.retried(job.task, reason)
        data = {"attempt": job.attempts, "delay": delay, "error": error}
        send_event_on_commit(job, "job.retrying", data, patient=True)
        job_id, task = str(job.pk), job.task

        def enqueue_again() -> None:
            from jobs.registry import get_spec

            countdown = {"countdown": delay} if delay else {}
            get_spec(task).celery_task.apply_async(args=[job_id], task_id=job_id, **countdown)

        transaction.on_commit(enqueue_again)  # not robust: a broker error is the caller's
    return won


def do_await_children(job: Job, body_result: Any) -> bool:
    """A parent's body returned while it has children: it stays running, held by no worker,
    until its children settle it (jobs/children.py); ``result`` keeps what the body returned."""
    won = _transition(job, (JobStatus.RUNNING,), awaiting_children=True, result=body_result)
    if won:
        parent_id = job.pk

        def settle_parent() -> None:
            from jobs import children

            # A cancel asked while the body ran (do_request_cancel) is now this call's to carry out.
            if Job.objects.filter(pk=parent_id, cancel_requested_at__isnull=False).exists():
                do_cancel(Job.objects.get(pk=parent_id))
            else:
                children.settle(parent_id)

        transaction.on_commit(settle_parent, robust=True)
    return won


def stop(job: Job, *, patient: bool = True) -> bool:
    """Cancel ``job`` at once if no worker holds it (queued, or a parent awaiting its
    children), else ask its worker to stop it; False when neither took (it had ended)."""
    from jobs import supervision

    supervision.request_cancel(str(job.pk))  # seen by whichever worker runs it, now or later
    if (job.status == JobStatus.QUEUED or job.awaiting_children) and do_cancel(job, patient=patient):
        return True
    if job.status == JobStatus.RUNNING:
        if do_request_cancel(job):
            return True  # its worker stops it at its next check
        if job.awaiting_children:  # its body returned meanwhile: no worker to stop it
            return do_cancel(job, patient=patient)
    return False


def cancel_children(job: Job) -> int:
    """Cancel every child of ``job`` still queued or running (and theirs, in turn); how many."""
    return sum(stop(child) for child in Job.objects.filter(parent_id=job.pk, status__in=ACTIVE))


def _children_go_on_commit(job: Job) -> None:
    """After a parent's failure or cancel commits, its children still active go too: before
    its own event, so that whoever hears it finds none of them still queued."""

    def cancel_remaining_children() -> None:
        cancel_children(job)

    transaction.on_commit(cancel_remaining_children, robust=True)


def _parent_hears_on_commit(job: Job) -> None:
    """After a child's end commits, and its event: its parent's bar moves, and it may end."""
    if job.parent_id is None:
        return

    def tell_parent() -> None:
        from jobs import children

        children.child_ended(job)

    transaction.on_commit(tell_parent, robust=True)


def do_request_cancel(job: Job) -> bool:
    """Record that the owner asked a running job to stop (its status stays running until its
    worker stops it, by ``do_cancel``). False for a parent awaiting its children, which no
    worker holds: cancel that one with ``do_cancel``."""
    return _transition(job, (JobStatus.RUNNING,), held=True, cancel_requested_at=timezone.now())
