# No "from __future__ import annotations": django-ninja resolves annotations at runtime.
import logging

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status
from redis.exceptions import RedisError

from api.schemas import DetailOut
from realtime import namespaces, tickets
from realtime.presence import present

logger = logging.getLogger(__name__)

router = Router(tags=["realtime"])


class TicketOut(Schema):
    ticket: str = Field(..., description="Pass it as `?ticket=` on `/ws/events/`; it works once.")
    expires_in: int = Field(..., description="Seconds left to use it.")


@router.post("/realtime/ticket", response={200: TicketOut, 401: DetailOut, 503: DetailOut})
def create_ticket(request: HttpRequest) -> Status[dict[str, object]]:
    """A single-use ticket that authenticates one socket as the caller, for pages on another
    origin. Their backend asks for it with its bearer token and hands it to the page."""
    try:
        ticket = tickets.issue(int(request.user.pk))  # type: ignore[arg-type]
    except RedisError as exc:
        logger.error("cannot issue a socket ticket: %s", exc)
        return Status(503, {"detail": "tickets are unavailable; try again shortly"})
    return Status(200, {"ticket": ticket, "expires_in": tickets.TICKET_TTL_S})


class PresentUser(Schema):
    id: int
    username: str


class PresenceOut(Schema):
    users: list[PresentUser] = Field(..., description="Users with a socket on the channel now, by id.")


@router.get(
    "/realtime/presence/{channel}",
    response={200: PresenceOut, frozenset({401, 403, 404, 422, 503}): DetailOut},
)
def presence(request: HttpRequest, channel: str) -> Status[dict[str, object]]:
    """Who is on a channel of a namespace declared with `presence=True`, for users who may
    read it. A user whose web process died is gone once REALTIME_PRESENCE_TTL_S has passed."""
    try:
        declared, stream = namespaces.parse(channel)
    except namespaces.ChannelError as exc:
        return Status(404 if exc.code == "unknown_channel" else 422, {"detail": exc.detail})
    if not namespaces.may_read(request.user, channel):
        return Status(403, {"detail": "you may not read this channel"})
    if not declared.presence:
        return Status(404, {"detail": f"namespace {declared.name!r} has no presence"})
    try:
        users = present(stream)
    except RedisError as exc:
        logger.error("cannot read the presence of %s: %s", channel, exc)
        return Status(503, {"detail": "presence is unavailable; try again shortly"})
    return Status(200, {"users": users})
