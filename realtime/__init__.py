"""Coucou's push layer: numbered per-user events, stored for replay and relayed live."""

from realtime.stream import publish

__all__ = ("publish",)
