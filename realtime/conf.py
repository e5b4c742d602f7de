"""The realtime app's settings, read in one place with their defaults."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class RealtimeSettings:
    redis_url: str
    channel_prefix: str
    stream_maxlen: int
    stream_max_age_s: int
    max_client_frame_bytes: int
    replay_batch: int


def get() -> RealtimeSettings:
    layer = settings.CHANNEL_LAYERS["default"].get("CONFIG", {})
    return RealtimeSettings(
        redis_url=settings.REDIS_URL,
        channel_prefix=layer.get("prefix", "asgi"),
        stream_maxlen=getattr(settings, "REALTIME_STREAM_MAXLEN", 10_000),
        stream_max_age_s=getattr(settings, "REALTIME_STREAM_MAX_AGE_S", 24 * 3600),
        max_client_frame_bytes=getattr(settings, "REALTIME_MAX_CLIENT_FRAME_BYTES", 4096),
        replay_batch=getattr(settings, "REALTIME_REPLAY_BATCH", 500),
    )
