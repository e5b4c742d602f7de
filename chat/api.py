# No "from __future__ import annotations": django-ninja resolves annotations at runtime.
"""Chat over REST: your rooms, posting a message (then published on ``chat:<slug>``), older messages."""

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Field, Query, Router, Schema, Status
from ninja.throttling import BaseThrottle

from api.schemas import AuthorOut, DetailOut, text_body
from chat.models import MESSAGE_MAX_CHARS, Message, Room
from chat.services import message_post
from chat.throttling import MessageThrottle

router = Router(tags=["chat"])

MESSAGE_THROTTLE: list[BaseThrottle] = [MessageThrottle()]
MAX_PAGE = 100


class RoomOut(Schema):
    slug: str
    title: str
    channel: str = Field(..., description="Subscribe to it on the socket: `chat:<slug>`.")


class MessageIn(Schema):
    body: text_body(MESSAGE_MAX_CHARS, "a message")  # type: ignore[valid-type]


class MessageOut(Schema):
    id: int
    room: str
    author: AuthorOut
    body: str
    created: datetime


class MessagesOut(Schema):
    items: list[MessageOut] = Field(..., description="Newest first.")
    more: bool = Field(..., description="Older messages exist: pass the last item's id as `before`.")


class MessagesQuery(Schema):
    before: int | None = Field(None, ge=1, le=2**63 - 1, description="Only messages older than this id.")
    limit: int = Field(50, ge=1, le=MAX_PAGE)


def _room_of_member(request: HttpRequest, slug: str) -> Room:
    # Members only; anyone else gets the 404 an absent room gets, so slugs reveal nothing.
    return get_object_or_404(Room.objects.of_member(request.user), slug=slug)


@router.get("/chat/rooms", response={200: list[RoomOut], 401: DetailOut})
def list_rooms(request: HttpRequest) -> list[Room]:
    """The rooms you are a member of."""
    return list(Room.objects.of_member(request.user))


@router.post(
    "/chat/rooms/{slug}/messages",
    response={201: MessageOut, frozenset({401, 403, 404, 413, 422, 429}): DetailOut},
    throttle=MESSAGE_THROTTLE,
)
def post_message(request: HttpRequest, slug: str, payload: MessageIn) -> Status[dict[str, Any]]:
    """Say something in a room you are a member of; every subscriber of `chat:<slug>` gets
    it as a `chat.message` event once it is stored."""
    message = message_post(room=_room_of_member(request, slug), author=request.user, body=payload.body)
    return Status(201, message.as_event())


@router.get(
    "/chat/rooms/{slug}/messages", response={200: MessagesOut, 401: DetailOut, 404: DetailOut, 422: DetailOut}
)
def list_messages(request: HttpRequest, slug: str, query: Query[MessagesQuery]) -> dict[str, Any]:
    """A room's messages, newest first, `limit` at a time; `before` pages back in time."""
    messages = Message.objects.filter(room=_room_of_member(request, slug)).select_related("room", "author")
    if query.before is not None:
        messages = messages.filter(pk__lt=query.before)
    page = list(messages.order_by("-id")[: query.limit + 1])
    return {"items": [message.as_event() for message in page[: query.limit]], "more": len(page) > query.limit}
