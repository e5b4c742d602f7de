"""Bearer tokens: created once, stored hashed, looked up by hash."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model

from api.models import ApiToken

TOKEN_PREFIX = "cou_"


def _digest(token: str) -> str:
    # Tokens carry 256 bits of randomness, so a fast hash is enough (no password stretching).
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(*, user: Any, name: str = "default") -> str:
    """Create a token for ``user`` and return it: the only time it is visible."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    ApiToken.objects.create(user=user, name=name, prefix=token[:12], digest=_digest(token))
    return token


def user_for_token(token: str) -> Any | None:
    """The active user whose token this is, or None."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    users = get_user_model()._default_manager.filter(api_tokens__digest=_digest(token), is_active=True)
    return next(iter(users[:1]), None)


auser_for_token = database_sync_to_async(user_for_token)
