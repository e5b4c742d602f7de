from __future__ import annotations

from django.http import HttpRequest

from api.throttling import EnqueueThrottle
from chat import conf


class MessageThrottle(EnqueueThrottle):
    """Per-user rate of chat messages: the enqueue throttle's sliding log in Redis (one atomic
    round trip, shared by every web process, failing open), under its own scope.

    The rate is read at each request, so ``CHAT_MESSAGE_RATE`` may change under a running
    process (tests do).
    """

    scope = "chat.message"

    def __init__(self) -> None:
        super().__init__(conf.message_rate())

    def allow_request(self, request: HttpRequest) -> bool:
        rate = conf.message_rate()
        if rate != self.rate:
            self.rate = rate
            self.num_requests, self.duration = self.parse_rate(rate)
        return super().allow_request(request)
