from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja.security import HttpBearer, SessionAuth

from api.tokens import user_for_token


class BearerAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> Any | None:
        user = user_for_token(token)
        if user is not None:
            request.user = user
        return user


# Programs send a bearer token; browsers send the session cookie, with CSRF on unsafe methods.
api_auth = [BearerAuth(), SessionAuth(csrf=True)]
