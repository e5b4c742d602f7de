"""Who is on the other end of a socket, and whether its page may talk to us.

- A socket that sends ``Origin`` must send an allowed one (same host, ``ALLOWED_HOSTS`` or
  ``CSRF_TRUSTED_ORIGINS``); otherwise the handshake is refused (HTTP 403).
- ``Authorization: Bearer <token>`` authenticates any socket.
- ``?ticket=<ticket>`` (``POST /api/realtime/ticket``, single use, 60 s) authenticates one
  socket: for pages on another origin, which can send neither our cookie nor a header. A used,
  expired or unknown ticket refuses the socket (4401), even with a session cookie.
- The session cookie authenticates only a socket that sent an allowed ``Origin``: a browser.
  A socket without ``Origin`` and without a token stays anonymous, so a stolen or ambient
  cookie is never enough on its own (cross-site WebSocket hijacking).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from channels.auth import get_user
from channels.db import database_sync_to_async
from channels.security.websocket import WebsocketDenier
from channels.sessions import SessionMiddlewareStack
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.http.request import validate_host

from realtime import metrics, tickets

BearerAuthenticator = Callable[[str], Awaitable[Any]]

_DEBUG_HOSTS = [".localhost", "127.0.0.1", "[::1]"]

# Credentials were sent and are wrong: the socket is closed with 4401 even where sockets
# without credentials are welcome (a public namespace), so a client learns its token is bad.
_REFUSED = AnonymousUser()


def origin_allowed(origin: str, host_header: str | None) -> bool:
    parts = urlsplit(origin)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        return False
    if host_header and parts.netloc == host_header:
        return True
    if origin in settings.CSRF_TRUSTED_ORIGINS:
        return True
    # "*" would turn the check off: it never admits a foreign page here.
    allowed = [h for h in settings.ALLOWED_HOSTS if h != "*"]
    if settings.DEBUG and not allowed:
        allowed = _DEBUG_HOSTS
    return validate_host(parts.hostname, allowed)


def _query_ticket(scope: dict[str, Any]) -> str | None:
    # "?ticket=" is a ticket too, a bad one: keep_blank_values, so it is refused (4401).
    values = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True).get("ticket")
    return values[0] if values else None


@database_sync_to_async  # type: ignore[untyped-decorator]  # channels ships no type hints
def _active_user(user_id: int) -> Any | None:
    return get_user_model().objects.filter(pk=user_id, is_active=True).first()


async def user_for_ticket(ticket: str) -> Any | None:
    user_id = await tickets.aredeem(ticket)
    return None if user_id is None else await _active_user(user_id)


class SocketAuthMiddleware:
    """Sets ``scope["user"]``; expects Channels' session middleware outside it."""

    def __init__(self, inner: Any, *, authenticate_bearer: BearerAuthenticator) -> None:
        self.inner = inner
        self.authenticate_bearer = authenticate_bearer

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        # This frame lasts as long as the socket: the headers, the token and the rest are
        # read in another one, which ends here.
        user, kind = await self._authenticate(scope)
        if user is None:
            metrics.REFUSED_ORIGIN.inc()
            return await WebsocketDenier()(scope, receive, send)
        refused = user is _REFUSED
        if refused or not user.is_authenticated:
            user, kind = AnonymousUser(), "anonymous"
        return await self.inner(dict(scope, user=user, credentials_refused=refused, auth=kind), receive, send)

    async def _authenticate(self, scope: dict[str, Any]) -> tuple[Any | None, str]:
        """The socket's user (``AnonymousUser`` when none, ``_REFUSED`` for a bad token or
        ticket), or None to refuse its Origin; and how it authenticated (``scope["auth"]``:
        bearer, ticket, session or anonymous)."""
        headers = {name.lower(): value for name, value in scope.get("headers", [])}
        origin = headers.get(b"origin")
        host = headers.get(b"host")
        if origin is not None and not origin_allowed(
            origin.decode("latin-1"), host.decode("latin-1") if host else None
        ):
            return None, "anonymous"
        user: Any = AnonymousUser()
        kind = "anonymous"
        authorization = headers.get(b"authorization", b"").decode("latin-1")
        scheme, _, token = authorization.partition(" ")
        ticket = _query_ticket(scope)
        if scheme.lower() == "bearer" and token.strip():
            user, kind = await self.authenticate_bearer(token.strip()) or _REFUSED, "bearer"
        elif ticket is not None:
            user, kind = await user_for_ticket(ticket) or _REFUSED, "ticket"
        elif origin is not None and "session" in scope:
            user, kind = await get_user(scope), "session"
        return user, kind


class CookieSessions:
    """Channels' cookie and session middleware, for a socket that sends a cookie.

    Their frames and scope copies last as long as the socket: about 1.7 KB of each idle
    socket that has no cookie, and so no session to read (bench/RESULTS.md).
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.with_sessions = SessionMiddlewareStack(inner)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if any(name.lower() == b"cookie" for name, _ in scope.get("headers", [])):
            return await self.with_sessions(scope, receive, send)
        return await self.inner(scope, receive, send)
