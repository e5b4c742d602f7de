"""The one place where groups and Redis keys are named: of a user's stream and of a channel's.

A stream is a user's own events (tag ``u42``) or one named channel's (tag ``c:chat:lobby``).
Every name below is built from an authenticated user's id or from a channel name that
realtime/namespaces.py already checked against ``CHANNEL``; never from raw client text.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

# A channel is "namespace:name" (DESIGN.md, "Channels beyond the user").
NAMESPACE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")
_GROUP_MAX = 99  # channels-redis refuses group names of 100 characters or more


def group_for(user_id: int) -> str:
    """The Channels group of one user: built from the authenticated user's id only."""
    return f"user.{int(user_id)}"


def group_for_channel(namespace: str, name: str) -> str:
    """The Channels group that relays ``namespace:name``; both already match their patterns.

    The namespace has no dot, so the first dot splits the two again. A name too long for a
    group name is relayed under its digest, after an upper-case H that no name can hold.
    """
    assert NAMESPACE.fullmatch(namespace) and NAME.fullmatch(name), (namespace, name)
    group = f"chan.{namespace}.{name}"
    if len(group) > _GROUP_MAX:
        group = f"chan.{namespace}.H{hashlib.sha256(name.encode()).hexdigest()[:40]}"
    return group


def pubsub_channel(group: str, prefix: str) -> str:
    # channels_redis.pubsub names a group's Redis channel this way; a contract test
    # (tests/realtime/test_stream.py) proves a publish on it reaches group members.
    return f"{prefix}__group__{group}"


def pubsub_channel_for(user_id: int, prefix: str) -> str:
    return pubsub_channel(group_for(user_id), prefix)


@dataclass(frozen=True, slots=True)
class Stream:
    """One numbered history: its Redis keys (one hash tag), its group and, for a channel, its name."""

    tag: str
    group: str
    channel: str | None = None

    @property
    def head(self) -> str:
        # A hash: the latest seq (s), the epoch (e), the run it was checked under (r) and the
        # seq before the epoch's first event (b). See realtime/stream.py.
        return f"coucou:{{{self.tag}}}:head"

    @property
    def events(self) -> str:
        return f"coucou:{{{self.tag}}}:events"

    def key(self, suffix: str) -> str:
        """Another key of this stream, in the same hash slot (presence, for one)."""
        return f"coucou:{{{self.tag}}}:{suffix}"


def user_stream(user_id: int) -> Stream:
    return Stream(f"u{int(user_id)}", group_for(user_id))


def channel_stream(namespace: str, name: str) -> Stream:
    return Stream(f"c:{namespace}:{name}", group_for_channel(namespace, name), f"{namespace}:{name}")


# The Redis process (its run_id) that the connections of this server reach; see realtime/redis.py.
RUN_KEY = "coucou:run"


def head_key(user_id: int) -> str:
    return user_stream(user_id).head


def stream_key(user_id: int) -> str:
    return user_stream(user_id).events


def ticket_key(digest: str) -> str:
    # Only the ticket's SHA-256 names the key: a Redis dump never holds a usable ticket.
    return f"coucou:ticket:{digest}"
