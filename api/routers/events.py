# No "from __future__ import annotations": django-ninja resolves annotations at runtime.
from typing import Any

import orjson
from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from realtime.protocol import EPOCH, MAX_SEQ
from realtime.stream import read_after

router = Router(tags=["events"])


class EventsQuery(Schema):
    after: int = Field(0, ge=0, le=MAX_SEQ, description="Return the events after this seq.")
    epoch: str | None = Field(
        None,
        pattern=EPOCH.pattern,
        description="The epoch `after` belongs to (from `hello`, an event or an earlier answer).",
    )
    limit: int = Field(100, ge=1, le=1000, description="At most this many events.")


class EventsOut(Schema):
    events: list[dict[str, Any]]
    latest: int = Field(..., description="The caller's newest seq.")
    epoch: str = Field(..., description="The epoch of the caller's event history.")
    resync: bool = Field(
        ...,
        description="`after` is not in this history (another epoch, a seq it never reached) or "
        "events after it are past retention: refetch state; `events` follow the epoch's start.",
    )


@router.get("/events", response=EventsOut)
def list_events(request: HttpRequest, query: Query[EventsQuery]) -> dict[str, Any]:
    """The caller's retained events after a seq, in order: the catch-up path without a socket."""
    history = read_after(int(request.user.pk), query.after, query.limit, query.epoch)  # type: ignore[arg-type]
    return {
        "events": [orjson.loads(frame) for _, frame in history.frames],
        "latest": history.latest,
        "epoch": history.epoch,
        "resync": history.resync,
    }
