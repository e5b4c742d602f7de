from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ninja.security import HttpBearer, SessionAuth

from api.tokens import user_for_token


class BearerAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> Any | None:
        user = user_for_token(token)
        if user is not None:
            request.user = user
        return user


class CookieSessionAuth(SessionAuth):
    """Django's session, with CSRF checked on unsafe methods when the cookie is sent.

    Without a session cookie there is nothing to forge: the caller gets 401, not 403.
    """

    def _get_key(self, request: HttpRequest) -> str | None:
        if settings.SESSION_COOKIE_NAME not in request.COOKIES:
            return None
        return super()._get_key(request)


api_auth = [BearerAuth(), CookieSessionAuth(csrf=True)]
