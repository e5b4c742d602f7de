"""Chat's settings, with their defaults."""

from __future__ import annotations

from django.conf import settings

DEFAULT_MESSAGE_RATE = "30/m"


def message_rate() -> str:
    """``CHAT_MESSAGE_RATE``: messages a user may post per period, across rooms (ninja's rate syntax)."""
    return str(getattr(settings, "CHAT_MESSAGE_RATE", DEFAULT_MESSAGE_RATE))
