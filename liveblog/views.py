"""A liveblog's public page: its posts rendered, then followed live on ``liveblog:<slug>``."""

from __future__ import annotations

import logging
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from redis.exceptions import RedisError

from liveblog.models import Liveblog
from realtime.groups import channel_stream
from realtime.stream import read_stream

logger = logging.getLogger(__name__)


def page(request: HttpRequest, slug: str) -> HttpResponse:
    liveblog = get_object_or_404(Liveblog.objects.published(), slug=slug)
    # The channel's position first, then the posts: a post saved in between is in both, and
    # the page keeps one copy by id; none can fall between the two.
    resume = _position(liveblog)
    return render(
        request, "liveblog/page.html", {"liveblog": liveblog, "posts": _posts(liveblog), "resume": resume}
    )


def posts_json(request: HttpRequest, slug: str) -> JsonResponse:
    """The posts from the database, the truth: what the page reloads after a resync."""
    liveblog = get_object_or_404(Liveblog.objects.published(), slug=slug)
    resume = _position(liveblog)
    return JsonResponse({"posts": _posts(liveblog), "resume": resume})


def _posts(liveblog: Liveblog) -> list[dict[str, Any]]:
    return [post.as_event() for post in liveblog.posts.select_related("author", "liveblog")]


def _position(liveblog: Liveblog) -> dict[str, Any]:
    """Where the page subscribes from: the channel's latest seq and its epoch, or from 0."""
    try:
        history = read_stream(channel_stream("liveblog", liveblog.slug), 0, 0)
    except (RedisError, OSError) as exc:
        logger.warning("cannot read %s's position, the page replays its history: %s", liveblog.channel, exc)
        return {"after": 0, "epoch": None}
    return {"after": history.latest, "epoch": history.epoch}
