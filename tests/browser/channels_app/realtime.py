"""coucou.js's test namespaces: ``pinboard`` (signed-in users, presence), ``noticeboard`` (public)."""

from __future__ import annotations

from typing import Any

from realtime import namespace


@namespace("pinboard", presence=True, history=100)
def pinboard(user: Any, name: str) -> bool:
    return bool(user.is_authenticated)


@namespace("noticeboard", public=True, history=100)
def noticeboard(user: Any, name: str) -> bool:
    return True
