# No "from __future__ import annotations": django-ninja resolves annotations at runtime.
from typing import Literal
from uuid import UUID

from django.conf import settings
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Field, Header, Query, Router, Schema, Status
from ninja.pagination import LimitOffsetPagination, paginate
from ninja.throttling import BaseThrottle

from api.schemas import DetailOut, JobIn, JobOut, TaskOut
from api.throttling import EnqueueThrottle
from jobs import children
from jobs.models import Job
from jobs.registry import all_specs
from jobs.services import job_cancel, job_submit

router = Router(tags=["jobs"])

ERRORS = {401: DetailOut, 413: DetailOut, 422: DetailOut, 429: DetailOut, 503: DetailOut}
SHARE_ERRORS = {**ERRORS, 403: DetailOut}  # a channel the caller may not read
ENQUEUE_THROTTLE: list[BaseThrottle] = [EnqueueThrottle(settings.API_ENQUEUE_RATE)]


class JobsPagination(LimitOffsetPagination):
    """Ninja's limit/offset with both bounded: a huge offset is a 422, not a database error."""

    class Input(Schema):
        limit: int = Field(20, ge=1, le=100)
        offset: int = Field(0, ge=0, le=1_000_000)


class JobFilters(Schema):
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"] | None = None
    task: str | None = None
    parent: UUID | None = Field(None, description="Only the child jobs of this job (ctx.spawn, ctx.map).")


@router.get("/tasks", response=list[TaskOut])
def list_tasks(request: HttpRequest) -> list[dict[str, object]]:
    return [
        {"name": spec.name, "description": spec.description, "params_schema": spec.params_schema()}
        for spec in all_specs()
    ]


@router.post("/jobs", response={202: JobOut, **SHARE_ERRORS}, throttle=ENQUEUE_THROTTLE)
def create_job(
    request: HttpRequest,
    payload: JobIn,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key", max_length=200),  # type: ignore[type-arg]
) -> Status[Job]:
    job = job_submit(
        owner=request.user,
        task=payload.task,
        params=payload.params,
        idempotency_key=idempotency_key,
        channel=payload.channel,
    )
    return Status(202, job)


@router.post("/coucou", response={202: JobOut, **ERRORS}, throttle=ENQUEUE_THROTTLE)
def create_coucou(request: HttpRequest) -> Status[Job]:
    return Status(202, job_submit(owner=request.user, task="coucou"))


@router.get("/jobs", response=list[JobOut])
@paginate(JobsPagination)
def list_jobs(request: HttpRequest, filters: Query[JobFilters]) -> object:
    jobs = Job.objects.owned_by(request.user)
    if filters.status:
        jobs = jobs.filter(status=filters.status)
    if filters.task:
        jobs = jobs.filter(task=filters.task)
    if filters.parent:
        jobs = jobs.filter(parent_id=filters.parent)
    return jobs.order_by("-created_at")


@router.get("/jobs/{job_id}", response={200: JobOut, 401: DetailOut, 404: DetailOut})
def get_job(request: HttpRequest, job_id: UUID) -> Job:
    """One of your jobs; a parent's `children` counts its child jobs by status."""
    job = get_object_or_404(Job.objects.owned_by(request.user), pk=job_id)
    job.children_counts = children.counts(job.pk)  # type: ignore[attr-defined]  # read by JobOut
    return job


@router.post("/jobs/{job_id}/cancel", response={202: JobOut, 401: DetailOut, 404: DetailOut, 409: DetailOut})
def cancel_job(request: HttpRequest, job_id: UUID) -> Status[Job]:
    """Cancel one of your jobs: 202 (it ends `cancelled` unless it finishes first), 409 if over."""
    return Status(202, job_cancel(owner=request.user, job_id=job_id))
