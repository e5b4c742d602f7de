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

# redis-py 8 reads with a 5 s socket timeout by default, and the core layer's receive is a
# 5 s BZPOPMIN: its consumers then die with TimeoutError, even idle (channels_redis#422).
# The relay turns the timeout off, as a seed on redis-py 8 has to, so that it is measured
# at its best.
_HOST = {"address": REDIS_URL, "socket_timeout": None} if RELAY_LAYER == "core" else REDIS_URL

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": _BACKENDS[RELAY_LAYER],
        "CONFIG": {"hosts": [_HOST], "prefix": f"relay-{RELAY_LAYER}"},
    }
}
ASGI_APPLICATION = "bench.relay.application"
# The relay calls group_send itself: Coucou's Lua relay, and its check of the layer, do not apply.
REALTIME_CHECK_CHANNEL_LAYER = False
