# No "from __future__ import annotations": django-ninja resolves annotations at runtime.
"""Staff write a liveblog over REST; every saved post is broadcast on ``liveblog:<slug>``."""

from datetime import datetime
from typing import Annotated, Any

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Field, Router, Schema, Status

from api.schemas import AuthorOut, DetailOut, text_body
from liveblog.models import POST_MAX_CHARS, Liveblog, Post
from liveblog.services import post_create, post_update

router = Router(tags=["liveblog"])

ERRORS = frozenset({401, 403, 404, 413, 422})
STAFF_ONLY = {"detail": "only staff may write liveblogs"}
PostId = Annotated[int, Field(ge=1, le=2**63 - 1)]  # beyond 64 bits no row exists: a 422, not a 500


class PostIn(Schema):
    body: text_body(POST_MAX_CHARS, "a post")  # type: ignore[valid-type]


class PostOut(Schema):
    id: int
    liveblog: str
    author: AuthorOut | None
    body: str
    created: datetime
    updated: datetime


def _is_staff(request: HttpRequest) -> bool:
    return bool(getattr(request.user, "is_staff", False))


@router.post("/liveblogs/{slug}/posts", response={201: PostOut, ERRORS: DetailOut})
def create_post(request: HttpRequest, slug: str, payload: PostIn) -> Status[dict[str, Any]]:
    """Staff only: write a post; readers of `liveblog:<slug>` get it as `liveblog.post`."""
    if not _is_staff(request):
        return Status(403, STAFF_ONLY)
    liveblog = get_object_or_404(Liveblog, slug=slug)
    return Status(201, post_create(liveblog=liveblog, author=request.user, body=payload.body).as_event())


@router.patch("/liveblogs/{slug}/posts/{post_id}", response={200: PostOut, ERRORS: DetailOut})
def update_post(request: HttpRequest, slug: str, post_id: PostId, payload: PostIn) -> Status[dict[str, Any]]:
    """Staff only: edit a post's body; readers get the post again, same id, new `updated`."""
    if not _is_staff(request):
        return Status(403, STAFF_ONLY)
    post = get_object_or_404(
        Post.objects.select_related("liveblog", "author"), pk=post_id, liveblog__slug=slug
    )
    return Status(200, post_update(post=post, body=payload.body).as_event())
