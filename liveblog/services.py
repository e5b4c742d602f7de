"""The verbs of a liveblog. Saving a post broadcasts it (liveblog/realtime.py, on commit)."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from liveblog.models import Liveblog, Post


def post_create(*, liveblog: Liveblog, author: Any, body: str) -> Post:
    """Write a post; readers of ``liveblog:<slug>`` get it as ``liveblog.post`` once committed."""
    with transaction.atomic():
        return Post.objects.create(liveblog=liveblog, author=author, body=body)


def post_update(*, post: Post, body: str) -> Post:
    """Edit a post's body; readers get the post again (same id, new ``updated``) once committed."""
    post.body = body
    with transaction.atomic():
        post.save(update_fields=["body", "updated"])
    return post
