"""Settings of the seed-style relay: Coucou's settings with another channel layer.

``BENCH_RELAY_LAYER`` picks the layer: ``core`` (``RedisChannelLayer``, its defaults) or
``pubsub`` (``RedisPubSubChannelLayer``). The prefix keeps the relays' Redis keys apart.
"""

from __future__ import annotations

import os

from config.settings import *  # noqa: F403
from config.settings import REDIS_URL

RELAY_LAYER = os.environ.get("BENCH_RELAY_LAYER", "pubsub")
_BACKENDS = {
    "core": "channels_redis.core.RedisChannelLayer",
    "pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer",
}

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": _BACKENDS[RELAY_LAYER],
        "CONFIG": {"hosts": [REDIS_URL], "prefix": f"relay-{RELAY_LAYER}"},
    }
}
ASGI_APPLICATION = "bench.relay.application"
