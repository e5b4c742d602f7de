# No "from __future__ import annotations": django-ninja resolves annotations at runtime.
import logging

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status
from redis.exceptions import RedisError

from api.schemas import DetailOut
from realtime import tickets

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
