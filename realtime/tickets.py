"""Single-use socket tickets, for browser pages served from another origin.

Such a page cannot send our session cookie or a bearer header on a WebSocket. Its own backend
asks ``POST /api/realtime/ticket`` with its bearer token and hands the ticket to the page,
which connects with ``?ticket=``. A ticket is random, valid ``TICKET_TTL_S`` seconds, stored
only as its SHA-256 (key → user id), and redeemed with GETDEL: two sockets racing with one
ticket get one user between them.
"""

from __future__ import annotations

import hashlib
import secrets

from realtime.groups import ticket_key
from realtime.redis import async_client, sync_client

TICKET_TTL_S = 60
TICKET_PREFIX = "cwt_"
_MAX_LENGTH = 100


def _digest(ticket: str) -> str:
    # 256 random bits: a fast hash suffices, as for API tokens.
    return hashlib.sha256(ticket.encode()).hexdigest()


def issue(user_id: int) -> str:
    """Create a ticket for ``user_id`` and return it; it is shown only this once."""
    ticket = TICKET_PREFIX + secrets.token_urlsafe(32)
    sync_client().set(ticket_key(_digest(ticket)), int(user_id), ex=TICKET_TTL_S)
    return ticket


async def aredeem(ticket: str) -> int | None:
    """The user id a ticket was issued for, once; None when unknown, used or expired."""
    if not ticket.startswith(TICKET_PREFIX) or len(ticket) > _MAX_LENGTH:
        return None
    raw = await async_client().getdel(ticket_key(_digest(ticket)))
    return int(raw) if raw is not None else None
