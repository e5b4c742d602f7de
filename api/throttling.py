from __future__ import annotations

import logging

from django.http import HttpRequest
from ninja.throttling import UserRateThrottle
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)


class EnqueueThrottle(UserRateThrottle):
    """Per-user rate of job submissions, counted in Redis (shared by every web process).

    It fails open: with Redis down the enqueue itself answers 503, which says more than a 429.
    """

    scope = "enqueue"

    def allow_request(self, request: HttpRequest) -> bool:
        try:
            return super().allow_request(request)
        except (RedisError, OSError) as exc:
            logger.warning("throttle unavailable, allowing the request: %s", exc)
            return True
