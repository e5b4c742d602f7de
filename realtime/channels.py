"""Publishing to named channels, and taking a user off one."""

from __future__ import annotations

import logging
from typing import Any

import msgpack
from django.db import transaction
from redis.exceptions import RedisError

from realtime import conf
from realtime.groups import group_for, pubsub_channel
from realtime.namespaces import parse
from realtime.redis import sync_client
from realtime.stream import append

logger = logging.getLogger(__name__)

KICK_MESSAGE_TYPE = "realtime.kick"


def publish_to(channel: str, type: str, data: dict[str, Any] | None = None, *, job: str | None = None) -> int:
    """Number, store and relay one event on ``channel`` (``namespace:name``); return its seq.

    One atomic step, as ``publish`` is for a user. Raises ChannelError for a malformed channel
    or an undeclared namespace. ``data`` must be JSON-serializable.
    """
    declared, stream = parse(channel)
    settings = conf.get()
    return append(
        stream,
        {"type": type, "job": job, "data": data or {}},
        maxlen=declared.history,
        max_age_s=declared.history_max_age_s or settings.stream_max_age_s,
    )


def publish_to_on_commit(
    channel: str,
    type: str,
    data: dict[str, Any] | None = None,
    *,
    job: str | None = None,
    using: str | None = None,
) -> None:
    """``publish_to`` once the current transaction commits (at once outside of one).

    The channel is checked now, so a typo fails where it is made, not after the commit. After
    the commit the row is saved whatever happens: a Redis failure is logged, never raised into
    the request (clients that missed the event get it from the database on their next resync).
    """
    parse(channel)

    def publish_after_commit() -> None:  # a named function: Django logs on_commit callbacks by name
        try:
            publish_to(channel, type, data, job=job)
        except (RedisError, OSError) as exc:
            logger.error("could not publish %s on %s after the commit: %s", type, channel, exc)

    transaction.on_commit(publish_after_commit, using=using)


def kick(channel: str, user_id: int) -> None:
    """End every subscription of the user to ``channel``, on every socket and web process.

    Call it when access is revoked; the sockets get ``unsubscribed`` with ``"reason": "kicked"``
    and a new subscribe is authorised again.
    """
    parse(channel)
    message = msgpack.packb({"type": KICK_MESSAGE_TYPE, "channel": channel})
    sync_client().publish(pubsub_channel(group_for(user_id), conf.get().channel_prefix), message)
