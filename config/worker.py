"""Celery's worker consumer, flushing task events after the event loop's poll, not before it.

Flushed from the loop's ready queue, which runs before the poll that writes a received task to
its pool process, every task waited for its own task-received event to be published
(docs/internals.md, "Celery's event flush"). Flushed from a timer due 15 ms later, a short
job's events go out together after it, in one message; Flower shows them as before. Events
still pending when the event loop closes or resets (a warm shutdown, a broker reconnect) go
out then, as they did from the ready queue.

Selected by ``CELERY_WORKER_CONSUMER`` (config/settings.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from celery.worker.consumer import Consumer as CeleryConsumer

logger = logging.getLogger(__name__)
EVENT_FLUSH_DELAY_S = 0.015


class Consumer(CeleryConsumer):
    hub: Any  # celery-types' stub lacks these two
    _flush_events: Callable[[], None]
    _flush_scheduled = False

    def on_send_event_buffered(self) -> None:  # type: ignore[override]  # the stub says it returns a callable
        if self.hub is None or self._flush_scheduled:
            return
        self._flush_scheduled = True
        self.hub.call_later(EVENT_FLUSH_DELAY_S, self._flush_scheduled_events)
        # A set: one callback however often this runs. The loop clears its timers when it
        # resets after a broker error, and never fires them when it closes.
        self.hub.on_close.add(self._flush_on_close)

    def _flush_scheduled_events(self) -> None:
        self._flush_scheduled = False  # first: a failed flush must not stop the next ones
        self._flush_events()

    def _flush_on_close(self, hub: Any) -> None:
        if not self._flush_scheduled:
            return
        try:
            self._flush_scheduled_events()
        except Exception as exc:  # noqa: BLE001 - the loop's close must go on: acks wait behind it
            logger.warning("could not send the last task events: %s", exc)
