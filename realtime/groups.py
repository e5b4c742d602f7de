"""The one place where a user's group and its Redis keys are named."""

from __future__ import annotations


def group_for(user_id: int) -> str:
    """The Channels group of one user: built from the authenticated user's id only."""
    return f"user.{int(user_id)}"


def pubsub_channel_for(user_id: int, prefix: str) -> str:
    # channels_redis.pubsub names a group's Redis channel this way; a contract test
    # (tests/realtime/test_stream.py) proves a publish on it reaches group members.
    return f"{prefix}__group__{group_for(user_id)}"


# The Redis process (its run_id) that the connections of this server reach; see realtime/redis.py.
RUN_KEY = "coucou:run"


def head_key(user_id: int) -> str:
    # A hash: the latest seq (s), the epoch (e), the run it was checked under (r) and the seq
    # before the epoch's first event (b). See realtime/stream.py.
    return f"coucou:{{u{int(user_id)}}}:head"


def stream_key(user_id: int) -> str:
    return f"coucou:{{u{int(user_id)}}}:events"


def ticket_key(digest: str) -> str:
    # Only the ticket's SHA-256 names the key: a Redis dump never holds a usable ticket.
    return f"coucou:ticket:{digest}"
