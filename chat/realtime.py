"""The ``chat`` namespace: ``chat:<slug>`` is readable by the room's members, with presence."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction

from chat.models import Room
from realtime import kick, namespace


@namespace("chat", history=1_000, presence=True)
def chat(user: Any, name: str) -> bool:
    """May ``user`` read ``chat:<name>``? Only a member of the room whose slug is ``name``."""
    return Room.objects.of_member(user).filter(slug=name).exists()


def members_changed(
    sender: Any, instance: Any, action: str, reverse: bool, pk_set: set[int] | None, **_: Any
) -> None:
    """A member taken off a room stops hearing it at once (realtime.kick), once that commits."""
    if action not in ("post_remove", "pre_clear"):
        return
    if reverse:  # user.chat_rooms.remove(...): instance is the user, pk_set the rooms
        rooms = Room.objects.filter(pk__in=pk_set) if pk_set is not None else instance.chat_rooms.all()
        pairs = [(slug, instance.pk) for slug in rooms.values_list("slug", flat=True)]
    else:  # room.members.remove(...): instance is the room, pk_set the users
        users = pk_set if pk_set is not None else set(instance.members.values_list("pk", flat=True))
        pairs = [(instance.slug, user_id) for user_id in users]
    _kick_on_commit(pairs)


def room_deleted(sender: Any, instance: Any, **_: Any) -> None:
    """A deleted room's members stop hearing its channel (its rows go without m2m_changed)."""
    _kick_on_commit([(instance.slug, user_id) for user_id in instance.members.values_list("pk", flat=True)])


def _kick_on_commit(pairs: list[tuple[str, int]]) -> None:
    for slug, user_id in pairs:
        # robust: Redis being down must not fail the membership change that already committed.
        transaction.on_commit(_kicker(f"chat:{slug}", user_id), robust=True)


def _kicker(channel: str, user_id: int) -> Callable[[], None]:
    # A function, not a partial: Django's robust on_commit logs the callback's __qualname__,
    # which a partial lacks, so a failing partial escapes as AttributeError.
    def kick_user() -> None:
        kick(channel, user_id)

    return kick_user
