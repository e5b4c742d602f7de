"""The ``liveblog`` namespace: ``liveblog:<slug>`` is public once the liveblog is published.

Every saved post (admin, REST, shell) is broadcast there as ``liveblog.post`` once its
transaction commits; a deleted one as ``liveblog.post.deleted``.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from liveblog.models import Liveblog, Post
from realtime import namespace, publish_to

HISTORY = 1_000


@namespace("liveblog", public=True, history=HISTORY)
def liveblog(user: Any, name: str) -> bool:
    """May anyone, signed in or not, read ``liveblog:<name>``? Yes, once it is published."""
    return Liveblog.objects.published().filter(slug=name).exists()


def post_saved(sender: Any, instance: Post, raw: bool = False, **_: Any) -> None:
    if raw:  # loaddata: nothing happened that readers should hear
        return
    _publish_on_commit(instance.liveblog.channel, "liveblog.post", instance.as_event())


def post_deleted(sender: Any, instance: Post, **_: Any) -> None:
    _publish_on_commit(instance.liveblog.channel, "liveblog.post.deleted", {"id": instance.pk})


def _publish_on_commit(channel: str, type: str, data: dict[str, Any]) -> None:
    # Not realtime.publish_to_on_commit: its callback is not robust, and Redis being away after
    # the commit would turn a saved post (in the admin, over REST) into a 500. A closure, not a
    # partial: Django's robust on_commit logs the callback's __qualname__, which a partial lacks.
    def publish() -> None:
        publish_to(channel, type, data)

    transaction.on_commit(publish, robust=True)
