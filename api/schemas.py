# No "from __future__ import annotations": django-ninja resolves annotations at runtime.
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from ninja import Field, Schema
from pydantic import AfterValidator, StringConstraints

from jobs.models import Job


class JobIn(Schema):
    task: str = Field(..., max_length=200, description="A registered job name, see GET /api/tasks.")
    params: dict[str, Any] = Field(default_factory=dict, description="The job's params.")
    channel: str | None = Field(
        None,
        max_length=133,
        description="A named channel (`team:42`) whose readers get the job's job.* events too; "
        "its namespace must carry jobs and you must be allowed to read it.",
    )


class ProgressOut(Schema):
    current: float | None
    total: float | None
    percent: float | None
    message: str


class ErrorOut(Schema):
    type: str
    message: str


class ChildrenOut(Schema):
    total: int
    queued: int
    running: int
    succeeded: int
    failed: int
    cancelled: int


class JobOut(Schema):
    id: UUID
    task: str
    params: dict[str, Any]
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    progress: ProgressOut
    result: Any = None
    error: ErrorOut | None = None
    attempts: int
    channel: str | None = None
    parent: UUID | None = Field(None, description="The job whose body started this one.")
    root: UUID | None = Field(None, description="The top of this job's tree of child jobs.")
    children: ChildrenOut | None = Field(
        None, description="A parent's child jobs by status (GET /api/jobs/{id} only; null in lists)."
    )
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @staticmethod
    def resolve_parent(job: Job) -> UUID | None:
        return job.parent_id

    @staticmethod
    def resolve_root(job: Job) -> UUID | None:
        return job.root_id

    @staticmethod
    def resolve_children(job: Job) -> dict[str, int] | None:
        return getattr(job, "children_counts", None)

    @staticmethod
    def resolve_progress(job: Job) -> dict[str, Any]:
        return {
            "current": job.progress_current,
            "total": job.progress_total,
            "percent": job.percent,
            "message": job.progress_message,
        }


class TaskOut(Schema):
    name: str
    description: str
    params_schema: dict[str, Any]


class HealthOut(Schema):
    status: Literal["ok", "unavailable"]
    db: bool
    redis: bool  # the realtime Redis
    broker: bool  # Celery's broker
    detail: str | None = None


class DetailOut(Schema):
    detail: Any


class AuthorOut(Schema):
    id: int
    username: str


def text_body(max_chars: int, what: str) -> Any:
    """A stripped, non-empty text of at most ``max_chars``, refused if it holds NUL characters
    (PostgreSQL cannot store them): the body of a chat message or a liveblog post."""

    def no_nul(body: str) -> str:
        if "\x00" in body:
            raise ValueError(f"{what} may not contain NUL characters")
        return body

    constraints = StringConstraints(strip_whitespace=True, min_length=1, max_length=max_chars)
    return Annotated[str, constraints, AfterValidator(no_nul)]
