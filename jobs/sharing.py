"""Jobs started on a named channel (``"channel": "team:42"``): who may, and what goes there.

A job started on a channel still reports to its owner; its job.* events (not the events a
body ``push()``es, which are the owner's) are published on the channel too, with the same
data, for everyone who may read it: a second stream, not a replacement. Only namespaces
declared with ``jobs=True`` carry jobs, and only for an owner who may read the channel.
"""

from __future__ import annotations

import logging
from typing import Any

from redis.exceptions import RedisError

from jobs.exceptions import ChannelForbidden, InvalidChannel
from realtime import ChannelError, publish_to
from realtime.namespaces import may_read, parse

logger = logging.getLogger(__name__)


def check_channel(*, owner: Any, channel: str) -> None:
    """Raise ``InvalidChannel`` or ``ChannelForbidden`` unless ``owner`` may start jobs on it."""
    try:
        declared, _ = parse(channel)
    except ChannelError as exc:
        raise InvalidChannel(exc.code, exc.detail) from None
    if not declared.jobs:
        raise InvalidChannel("no_jobs", f"the namespace {declared.name!r} does not carry jobs")
    if not may_read(owner, channel):
        raise ChannelForbidden(channel)


def shared(type: str) -> bool:
    return type.startswith("job.")


def share(channel: str, job_id: str, type: str, data: dict[str, Any]) -> None:
    """Publish one job.* event on the job's channel, now; a failure is logged, never raised.

    The owner's stream, published first, and the Job row stay the truth: a channel that
    misses an event (Redis down at that moment) shows the next one, and its board can
    refetch.
    """
    try:
        publish_to(channel, type, data, job=job_id)
    except (RedisError, OSError, ChannelError) as exc:
        logger.warning("could not publish %s for job %s on %s: %s", type, job_id, channel, exc)
