"""The realtime app's settings, read in one place with their defaults."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, cast

from django.conf import settings
from django.core.signals import setting_changed

from realtime.backpressure import Limits


@dataclass(frozen=True)
class RealtimeSettings:
    redis_url: str  # with Sentinels: the master's database and password only
    redis_sentinels: tuple[tuple[str, int], ...]
    redis_sentinel_master: str
    channel_prefix: str
    stream_maxlen: int
    stream_max_age_s: int
    max_client_frame_bytes: int
    replay_batch: int
    sweep_interval_s: float
    client_rate: float
    client_burst: int
    slow_reader: Limits
    max_subscriptions: int
    max_sockets_per_user: int
    max_anonymous_per_ip: int
    presence_ttl_s: float


@functools.cache
def get() -> RealtimeSettings:
    # Read once per process, not per socket or per publish (cleared when settings change).
    layer: dict[str, Any] = cast(dict[str, Any], settings.CHANNEL_LAYERS["default"]).get("CONFIG", {})
    return RealtimeSettings(
        redis_url=getattr(settings, "REALTIME_REDIS_URL", settings.REDIS_URL),
        redis_sentinels=tuple(
            (host, int(port)) for host, port in getattr(settings, "REALTIME_REDIS_SENTINELS", ())
        ),
        redis_sentinel_master=getattr(settings, "REALTIME_REDIS_SENTINEL_MASTER", ""),
        channel_prefix=layer.get("prefix", "asgi"),
        stream_maxlen=getattr(settings, "REALTIME_STREAM_MAXLEN", 10_000),
        stream_max_age_s=getattr(settings, "REALTIME_STREAM_MAX_AGE_S", 24 * 3600),
        max_client_frame_bytes=getattr(settings, "REALTIME_MAX_CLIENT_FRAME_BYTES", 4096),
        replay_batch=getattr(settings, "REALTIME_REPLAY_BATCH", 500),
        sweep_interval_s=float(getattr(settings, "REALTIME_SWEEP_INTERVAL_S", 1.0)),
        client_rate=float(getattr(settings, "REALTIME_CLIENT_RATE", 10.0)),
        client_burst=int(getattr(settings, "REALTIME_CLIENT_BURST", 30)),
        slow_reader=Limits(
            soft_bytes=getattr(settings, "REALTIME_SLOW_READER_SOFT_BYTES", 1024 * 1024),
            hard_bytes=getattr(settings, "REALTIME_SLOW_READER_HARD_BYTES", 8 * 1024 * 1024),
            grace_s=float(getattr(settings, "REALTIME_SLOW_READER_GRACE_S", 10.0)),
            close_timeout_s=float(getattr(settings, "REALTIME_SLOW_CLOSE_TIMEOUT_S", 10.0)),
        ),
        max_subscriptions=int(getattr(settings, "REALTIME_MAX_SUBSCRIPTIONS", 100)),
        max_sockets_per_user=int(getattr(settings, "REALTIME_MAX_SOCKETS_PER_USER", 50)),
        max_anonymous_per_ip=int(getattr(settings, "REALTIME_MAX_ANONYMOUS_PER_IP", 20)),
        presence_ttl_s=float(getattr(settings, "REALTIME_PRESENCE_TTL_S", 15.0)),
    )


def _settings_changed(**_: Any) -> None:
    get.cache_clear()


setting_changed.connect(_settings_changed)
