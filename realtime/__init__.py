"""Coucou's push layer: numbered events per user and per named channel, stored for replay and relayed live."""

from realtime.channels import kick, publish_to, publish_to_on_commit
from realtime.namespaces import ChannelError, namespace
from realtime.stream import publish
from realtime.transient import send_transient

__all__ = (
    "ChannelError",
    "kick",
    "namespace",
    "publish",
    "publish_to",
    "publish_to_on_commit",
    "send_transient",
)
