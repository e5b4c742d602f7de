from __future__ import annotations

import logging
import threading
import time
import uuid

from django.http import HttpRequest
from ninja.throttling import UserRateThrottle
from redis.exceptions import RedisError

from realtime.redis import fail_fast_client, script

logger = logging.getLogger(__name__)

# A sliding log per user: the times of the accepted requests of the last window, in a sorted
# set. One round trip decides and records, atomically for every web process and thread.
# Returns 0 when the request is accepted, else the milliseconds until a slot frees up.
_SLIDING_LOG = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2]
  return math.max(1, tonumber(oldest) + window - now)
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], window)
return 0
"""


class EnqueueThrottle(UserRateThrottle):
    """Per-user rate of job submissions, counted in Redis (shared by every web process).

    ninja's own throttles read a list from the cache and write it back: two round trips, and
    two concurrent requests can both pass the last slot. This one decides in one script, on
    a client that gives up at once when Redis is away.
    One instance serves every request thread, so what ``wait()`` reports is per thread.

    It fails open: with Redis down the enqueue itself answers 503, which says more than a 429.
    """

    scope = "enqueue"

    def __init__(self, rate: str | None = None) -> None:
        super().__init__(rate)
        self._local = threading.local()

    def allow_request(self, request: HttpRequest) -> bool:
        self._local.wait_ms = 0
        key = self.get_cache_key(request)
        if key is None or self.num_requests is None or self.duration is None:
            return True
        try:
            wait_ms = script(fail_fast_client(), _SLIDING_LOG)(
                keys=[f"coucou:{key}"],
                args=[int(time.time() * 1000), self.duration * 1000, self.num_requests, uuid.uuid4().hex],
            )
        except (RedisError, OSError) as exc:
            logger.warning("throttle unavailable, allowing the request: %s", exc)
            return True
        self._local.wait_ms = int(wait_ms)
        return not wait_ms

    def wait(self) -> float | None:
        wait_ms = getattr(self._local, "wait_ms", 0)
        return wait_ms / 1000 if wait_ms else None
