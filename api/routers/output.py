# No "from __future__ import annotations": django-ninja resolves annotations at runtime.
from uuid import UUID

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Field, Query, Router, Schema

from api.schemas import DetailOut
from jobs.models import Job
from jobs.output import PAGE_BYTES, OutputPage, read_output

router = Router(tags=["jobs"])


class OutputQuery(Schema):
    offset: int = Field(0, ge=0, le=2**53 - 1, description="Where to read from, in UTF-8 bytes.")
    limit: int = Field(PAGE_BYTES, ge=1, le=PAGE_BYTES, description="The most bytes to answer.")


class OutputOut(Schema):
    key: str
    offset: int = Field(..., description="Where `text` starts, in UTF-8 bytes.")
    text: str
    next_offset: int = Field(..., description="Where `text` ends: the offset to ask for next.")
    closed: bool = Field(..., description="No writer has the stream open now.")
    size: int = Field(..., description="The stream's length now, in UTF-8 bytes.")


@router.get(
    "/jobs/{job_id}/output/{key}",
    response={200: OutputOut, 401: DetailOut, 404: DetailOut, 422: DetailOut},
)
def get_output(request: HttpRequest, job_id: UUID, key: str, query: Query[OutputQuery]) -> OutputPage:
    """Part of one of your job's output streams, from `offset`: page on with `next_offset`
    until it reaches `size`. 404 for a job not yours or a key it never wrote; 422 for an
    offset past the end or inside a character."""
    job = get_object_or_404(Job.objects.owned_by(request.user), pk=job_id)
    return read_output(job_id=str(job.pk), key=key, offset=query.offset, limit=query.limit)
