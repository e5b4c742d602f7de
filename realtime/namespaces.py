"""Named channels: the namespaces apps declare, and who may read a channel.

An app declares a namespace in its ``realtime`` module (found in every installed app, as
``jobs`` modules are)::

    from realtime import namespace

    @namespace("chat", history=1_000, presence=True)
    def chat(user, name: str) -> bool:  # may this user read chat:<name>?
        return Room.objects.filter(slug=name, members=user).exists()

The authoriser runs at every subscribe and presence read, in a thread (it may use the ORM).
For a ``public=True`` namespace it is also asked about anonymous users (``user.is_anonymous``);
for any other namespace an anonymous user is refused before it is asked. With ``jobs=True`` a
job may be started with one of its channels (``POST /api/jobs`` ``"channel"``): its job.*
events are then published there too, for everyone who may read it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from realtime.groups import NAME, NAMESPACE, Stream, channel_stream

Authorizer = Callable[[Any, str], bool]


class ChannelError(ValueError):
    """A channel that cannot be read or published to: ``code`` is the socket's error code."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class Namespace:
    name: str
    authorize: Authorizer
    history: int  # events kept per channel (0: none, only live frames and resync)
    history_max_age_s: int | None  # None: REALTIME_STREAM_MAX_AGE_S
    presence: bool
    public: bool
    jobs: bool = False  # jobs may be started with one of its channels (jobs/services.py)


_registry: dict[str, Namespace] = {}


def namespace(
    name: str,
    *,
    history: int = 1_000,
    history_max_age_s: int | None = None,
    presence: bool = False,
    public: bool = False,
    jobs: bool = False,
) -> Callable[[Authorizer], Authorizer]:
    """Declare the namespace ``name``; the decorated function decides who may read its channels."""
    if not NAMESPACE.fullmatch(name):
        raise ValueError(f"namespace {name!r} must match {NAMESPACE.pattern}")
    if history < 0 or (history_max_age_s is not None and history_max_age_s <= 0):
        raise ValueError("history must be >= 0 and history_max_age_s > 0")

    def register(authorize: Authorizer) -> Authorizer:
        declared = _registry.get(name)
        if declared is not None and declared.authorize is not authorize:
            qualname = getattr(declared.authorize, "__qualname__", declared.authorize)
            raise ValueError(f"namespace {name!r} is already declared by {qualname}")
        _registry[name] = Namespace(name, authorize, history, history_max_age_s, presence, public, jobs)
        return authorize

    return register


def parse(channel: object) -> tuple[Namespace, Stream]:
    """The namespace and stream of a channel named by a client or by app code.

    Raises ChannelError("bad_channel") for a malformed name, ("unknown_channel") for a
    namespace no app declared.
    """
    if not isinstance(channel, str) or ":" not in channel:
        raise ChannelError("bad_channel", "a channel is 'namespace:name'")
    ns_name, _, name = channel.partition(":")
    if not NAMESPACE.fullmatch(ns_name) or not NAME.fullmatch(name):
        raise ChannelError("bad_channel", f"a channel is 'namespace:name', the name matching {NAME.pattern}")
    declared = _registry.get(ns_name)
    if declared is None:
        raise ChannelError("unknown_channel", f"no namespace {ns_name!r}")
    return declared, channel_stream(ns_name, name)


def may_read(user: Any, channel: str) -> bool:
    """Whether ``user`` (perhaps anonymous) may read ``channel``. Sync: it may query the database."""
    declared, _ = parse(channel)
    if not getattr(user, "is_authenticated", False) and not declared.public:
        return False
    name = channel.partition(":")[2]
    return bool(declared.authorize(user, name))


def any_public() -> bool:
    """Whether sockets without credentials are accepted at all."""
    return any(ns.public for ns in _registry.values())


def declared() -> dict[str, Namespace]:
    return dict(_registry)
