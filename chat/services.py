"""The verbs of chat: posting a message, creating a room."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction

from chat.models import Message, Room
from realtime import publish_to


def message_post(*, room: Room, author: Any, body: str) -> Message:
    """Store ``body`` as ``author``'s message in ``room``; once committed, publish it on
    ``chat:<slug>`` as ``chat.message`` (the data is ``Message.as_event()``).

    The caller checks membership. A publish that fails after the commit (Redis away) is
    logged, not raised: the message is stored, and readers get it over REST.
    """
    with transaction.atomic():
        message = Message.objects.create(room=room, author=author, body=body)
        event = message.as_event()

        # Not realtime.publish_to_on_commit: its callback is not robust, and a Redis error
        # raised after the commit would turn a stored message into a 500. A closure, not a
        # partial: Django's robust on_commit logs the callback's __qualname__.
        def publish() -> None:
            publish_to(room.channel, "chat.message", event)

        transaction.on_commit(publish, robust=True)
    return message


def room_create(*, slug: str, title: str = "", members: Iterable[str] = ()) -> Room:
    """Create (or update) the room ``slug`` and add the users named by ``members`` to it.

    Raises ``django.core.exceptions.ValidationError`` for a slug that cannot name a channel,
    ``LookupError`` naming any username that does not exist.
    """
    usernames = list(dict.fromkeys(members))
    users = list(get_user_model().objects.filter(username__in=usernames))
    missing = sorted(set(usernames) - {user.get_username() for user in users})
    if missing:
        raise LookupError(f"no such user: {', '.join(missing)}")
    with transaction.atomic():
        room = Room.objects.filter(slug=slug).first() or Room(slug=slug)
        room.title = title or room.title or slug
        room.full_clean(validate_unique=False)
        room.save()
        room.members.add(*users)
    return room
