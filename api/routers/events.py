# No "from __future__ import annotations": django-ninja resolves annotations at runtime.
from typing import Any

import orjson
from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from realtime.protocol import MAX_SEQ
from realtime.stream import read_after

router = Router(tags=["events"])


class EventsQuery(Schema):
    after: int = Field(0, ge=0, le=MAX_SEQ, description="Return the events after this seq.")
    limit: int = Field(100, ge=1, le=1000, description="At most this many events.")


class EventsOut(Schema):
    events: list[dict[str, Any]]
    latest: int = Field(..., description="The caller's newest seq.")
    resync: bool = Field(..., description="Events after `after` are past retention: refetch state.")


@router.get("/events", response=EventsOut)
def list_events(request: HttpRequest, query: Query[EventsQuery]) -> dict[str, Any]:
    """The caller's retained events after a seq, in order: the catch-up path without a socket."""
    history = read_after(int(request.user.pk), query.after, query.limit)  # type: ignore[arg-type]
    return {
        "events": [orjson.loads(frame) for _, frame in history.frames],
        "latest": history.latest,
        "resync": history.resync,
    }
