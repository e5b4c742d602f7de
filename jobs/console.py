"""The operators' live feed: every job's lifecycle on one staff-only channel, ``console:jobs``.

The jobs console in the Django admin (jobs/admin.py) follows it to update its change list and
job pages without a reload. Lifecycle events go there as the owner gets them; progress only
as often as the Job row is written (``JOBS_PROGRESS_DB_INTERVAL_S``), so a thousand jobs
reporting at full rate cost the console a thousand events a second at most, not ten
thousand. ``JOBS_CONSOLE_LIVE = False`` turns the feed off (the console then shows the
database as of its last load).

Like any job channel, the feed is a second stream, never the truth: an event it misses
(Redis down at that moment) is logged, and the page shows the row on its next load.
"""

from __future__ import annotations

from typing import Any

from redis.exceptions import RedisError

from jobs import conf
from jobs.sharing import share
from realtime.namespaces import parse
from realtime.stream import read_stream

CHANNEL = "console:jobs"


def live() -> bool:
    return conf.get().console_live


def tell(job_id: str, type: str, data: dict[str, Any]) -> None:
    """Publish one job.* event on the console's channel; a failure is logged, never raised."""
    if live():
        share(CHANNEL, job_id, type, data)


def position() -> tuple[int, str] | None:
    """The feed's latest seq and epoch: a page rendered now follows it from there, so that no
    event between the render and the subscribe is missed. None when Redis does not answer
    (the page then follows from whenever its socket subscribes)."""
    try:
        history = read_stream(parse(CHANNEL)[1], 0, 0)
    except (RedisError, OSError):
        return None
    return history.latest, history.epoch
