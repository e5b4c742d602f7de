"""The worker's wiring: its consumer, and the metrics endpoint of its main process.

Celery's worker consumer, flushing task events after the event loop's poll, not before it.

Flushed from the loop's ready queue, which runs before the poll that writes a received task to
its pool process, every task waited for its own task-received event to be published
(docs/internals.md, "Celery's event flush"). Flushed from a timer due 15 ms later, a short
job's events go out together after it, in one message; Flower shows them as before. Events
still pending when the event loop closes or resets (a warm shutdown, a broker reconnect) go
out then, as they did from the ready queue.

Selected by ``CELERY_WORKER_CONSUMER`` (config/settings.py).

Metrics: the pool's children and the main process write theirs to ``PROMETHEUS_MULTIPROC_DIR``
(prometheus_client's multiprocess mode), which ``prepare_metrics_dir`` sets up, wiped, before
anything imports prometheus_client; the main process serves them all, summed, on
``METRICS_WORKER_HOST:METRICS_WORKER_PORT`` behind the guard of config/metrics.py. The signal
handlers are in config/celery_app.py.
"""

from __future__ import annotations

import glob
import logging
import os
import tempfile
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

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


def prepare_metrics_dir() -> str | None:
    """Make this worker write its metrics to a fresh ``PROMETHEUS_MULTIPROC_DIR``; its path.

    Only when the worker serves them (``METRICS_WORKER_PORT``) or the directory is set: then
    its files from an earlier run are removed (a counter would go on from there otherwise).
    Without a directory, a new temporary one. Runs at ``celeryd_init``, before Celery's Django
    fixup sets Django up, so before Coucou creates its metrics (jobs/metrics.py).

    prometheus_client picks its value class when it is first imported, and the ``celery``
    command imports it before any signal: it loads every command plugin, Flower's among them.
    So the class is switched here unless the variable was already set when the process began.
    """
    from django.conf import settings
    from prometheus_client import values

    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not settings.METRICS_WORKER_PORT and not path:
        return None
    path = path or tempfile.mkdtemp(prefix="coucou-worker-metrics-")
    os.makedirs(path, exist_ok=True)
    for stale in glob.glob(os.path.join(path, "*.db")):
        os.remove(stale)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    if not getattr(values.ValueClass, "_multiprocess", False):
        values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
    return path


class _MetricsHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        from prometheus_client import CollectorRegistry
        from prometheus_client.multiprocess import MultiProcessCollector

        from config import metrics

        if urlsplit(self.path).path != "/metrics" or not metrics.guard_configured():
            self._answer(404, b"not found\n", "text/plain")
        elif not metrics.admits(self.headers.get("Authorization"), self.client_address[0]):
            self._answer(403, b"forbidden\n", "text/plain")
        else:
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            self._answer(200, *metrics.exposition(registry))

    def _answer(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # a scrape every few seconds is not news


_server: ThreadingHTTPServer | None = None


def serve_metrics() -> None:
    """Serve the pool's metrics from this (main) process, if ``METRICS_WORKER_PORT`` is set."""
    global _server
    from django.conf import settings

    from config import metrics
    from realtime import metrics as realtime_metrics

    port, host = settings.METRICS_WORKER_PORT, settings.METRICS_WORKER_HOST
    if not port or _server is not None or not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return
    if not realtime_metrics.ENABLED:
        logger.warning("METRICS_WORKER_PORT is set but METRICS_ENABLED is off: its /metrics answers 404")
    elif not metrics.guard_configured():
        logger.warning("METRICS_WORKER_PORT is set but neither METRICS_TOKEN nor METRICS_ALLOWED_IPS: "
                       "the worker's /metrics answers 404")  # fmt: skip
    try:
        _server = ThreadingHTTPServer((host, port), _MetricsHandler)
    except OSError as exc:
        logger.error("cannot serve worker metrics on %s:%s: %s", host, port, exc)
        return
    _server.daemon_threads = True
    threading.Thread(target=_server.serve_forever, name="coucou-metrics", daemon=True).start()
    logger.info("worker metrics on http://%s:%s/metrics", host, port)


def stop_metrics() -> None:
    global _server
    if _server is not None:
        _server.shutdown()
        _server.server_close()
        _server = None


def forget_process(pid: int) -> None:
    """A pool child exits: drop its live gauges (its counters and histograms stay summed)."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid, path)  # type: ignore[no-untyped-call]
