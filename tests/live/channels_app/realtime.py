"""Namespaces of the live channel tests: ``lounge`` (signed-in users, presence), ``wall`` (public)."""

from __future__ import annotations

from typing import Any

from realtime import namespace


@namespace("lounge", presence=True)
def lounge(user: Any, name: str) -> bool:
    return bool(user.is_authenticated) and name != "closed"


@namespace("wall", public=True, history=100)
def wall(user: Any, name: str) -> bool:
    return True
