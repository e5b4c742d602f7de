from __future__ import annotations

from typing import Any

import pytest

from api.tokens import create_token
from tests.api.conftest import CheckedClient


@pytest.fixture(autouse=True)
def _fast_password_hashing(fast_password_hashing: None) -> None:
    pass


def make_room(*, slug: str = "lobby", title: str = "Lobby", members: tuple[Any, ...] = ()) -> Any:
    from chat.models import Room

    room = Room.objects.create(slug=slug, title=title)
    room.members.add(*members)
    return room


def make_message(*, room: Any, author: Any, body: str = "hello") -> Any:
    from chat.models import Message

    return Message.objects.create(room=room, author=author, body=body)


def client_of(user: Any) -> CheckedClient:
    """A bearer-token client of ``user`` that fails the test on any 500."""
    return CheckedClient(HTTP_AUTHORIZATION=f"Bearer {create_token(user=user)}")


def say(client: Any, slug: str, body: Any) -> Any:
    return client.post(f"/api/chat/rooms/{slug}/messages", {"body": body}, content_type="application/json")


def channel_events(channel: str) -> list[dict[str, Any]]:
    """Every event ``channel`` retains, as a subscriber replaying from 0 would get them."""
    import orjson

    from realtime.groups import channel_stream
    from realtime.stream import read_stream

    namespace, _, name = channel.partition(":")
    return [orjson.loads(frame) for _, frame in read_stream(channel_stream(namespace, name), 0, 100).frames]
