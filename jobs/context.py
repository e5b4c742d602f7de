"""What a job body sees: ``JobContext``, its progress reporting and cancellation."""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from jobs import metrics
from jobs.exceptions import JobCancelled
from jobs.output import OutputWriter

if TYPE_CHECKING:
    from jobs.children import ChildHandle

logger = logging.getLogger(__name__)

Emit = Callable[[str, dict[str, Any]], Any]
SaveProgress = Callable[[float, "float | None", str], None]


def progress_data(current: float, total: float | None, message: str) -> dict[str, Any]:
    percent = round(min(100.0, 100.0 * current / total), 2) if total else None
    return {"current": current, "total": total, "percent": percent, "message": message}


class JobContext:
    """The handle a job body gets as its first argument.

    - ``progress(current, total, message)`` may be called as often as the body likes (a
      million times is fine): pushes are coalesced to at most ``max_hz`` per second and the
      Job row is written at most once per ``db_interval`` seconds; the last value always
      arrives, at the latest when the job ends.
    - ``check_cancelled()`` (and ``progress()``) raise ``JobCancelled`` once the job is
      cancelled; cancellation is cooperative.
    - ``push(type, data)`` sends an event of the body's own to the job's owner.
    - ``spawn(task, params)`` and ``map(task, [params, ...])`` start child jobs; this job
      then ends when they have, and its progress is theirs (jobs/children.py).
    - ``stream(key)`` opens the job's output stream ``key``: text written to it reaches the
      owner's sockets in batches and stays readable over REST (jobs/output.py).
    - ``owner`` is the user who started the job (loaded once, on first use).
    """

    def __init__(
        self,
        *,
        job_id: str,
        owner_id: int,
        task: str,
        attempt: int,
        emit: Emit,
        save_progress: SaveProgress | None = None,
        is_cancelled: Callable[[], bool] = lambda: False,
        max_hz: float = 10.0,
        db_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        owner: Any = None,
    ) -> None:
        self.job_id = job_id
        self.owner_id = owner_id
        self.task = task
        self.attempt = attempt
        self._emit = emit
        self._save_progress = save_progress
        self._is_cancelled = is_cancelled
        self._interval = 1.0 / max_hz
        self._db_interval = db_interval
        self._clock = clock
        self._owner = owner
        self._lock = threading.Lock()
        self._pending: tuple[float, float | None, str] | None = None
        self._pushed: tuple[float, float | None, str] | None = None
        self._saved: tuple[float, float | None, str] | None = None
        self._next_push = 0.0
        self._next_save = clock() + db_interval
        self._cancelled = False
        self._closed = False
        self._writers: dict[str, OutputWriter] = {}
        self.spawned = 0  # child jobs started by this attempt (ctx.spawn, ctx.map)
        _ticker().watch(self)

    @property
    def owner(self) -> Any:
        """The user who started the job."""
        if self._owner is None:
            from django.contrib.auth import get_user_model

            self._owner = get_user_model()._default_manager.get(pk=self.owner_id)
        return self._owner

    def progress(self, current: float, total: float | None = None, message: str = "") -> None:
        """Report progress; cheap enough to call on every step of a loop."""
        self._pending = (current, total, message)
        if self._clock() >= self._next_push:
            self._tick()

    def check_cancelled(self) -> None:
        """Raise ``JobCancelled`` if the job has been cancelled."""
        if self._cancelled or self._is_cancelled():
            self._cancelled = True
            raise JobCancelled(self.job_id)

    def push(self, type: str, data: dict[str, Any] | None = None) -> None:
        """Send an event of the job's own (e.g. ``coucou``) to the job's owner."""
        self._emit(type, dict(data or {}))

    def spawn(self, task: str, params: dict[str, Any] | None = None) -> ChildHandle:
        """Start a child job of ``task`` for the same owner; its handle (jobs/children.py).

        This job then ends once its body has returned and its children have ended, by its
        ``@job(children=...)`` policy; its progress becomes the aggregate of theirs.
        """
        return self.map(task, [params or {}])[0]

    def map(self, task: str, params: list[dict[str, Any]]) -> list[ChildHandle]:
        """Start one child job of ``task`` per item of ``params``; their handles, in order."""
        from jobs.children import spawn_many

        handles = spawn_many(self.job_id, task, list(params), first_index=self.spawned)
        self.spawned += len(handles)
        return handles

    def stream(self, key: str) -> OutputWriter:
        """The writer of output stream ``key`` (``^[a-z0-9][a-z0-9._-]{0,63}$``, else ValueError).

        ``write(text)`` buffers, ``close()`` (or leaving a ``with`` block) sends the rest; the
        attempt's end closes every writer still open, before the job's end event. The same
        writer is returned for a key while it is open.
        """
        writer = self._writers.get(key)
        if writer is None or writer.closed:
            writer = self._writers[key] = OutputWriter(
                job_id=self.job_id, owner_id=self.owner_id, key=key, check_cancelled=self.check_cancelled
            )
        return writer

    def _tick(self) -> None:
        self._flush(save=True)
        self.check_cancelled()

    def _flush(self, *, save: bool, final: bool = False) -> None:
        with self._lock:
            if self._closed:
                return
            now = self._clock()
            self._next_push = now + self._interval
            pending = self._pending
            if pending is not None and pending is not self._pushed:
                try:
                    self._emit("job.progress", {**progress_data(*pending), "attempt": self.attempt})
                    self._pushed = pending
                except Exception as exc:  # noqa: BLE001 - progress never fails a job
                    logger.warning("progress push for job %s failed, will retry: %s", self.job_id, exc)
                    metrics.publish_failed("progress")
            if (
                save
                and self._save_progress
                and pending is not self._saved
                and (final or now >= self._next_save)
            ):
                self._saved = pending
                self._next_save = now + self._db_interval
                if pending is not None:
                    self._save_progress(*pending)
            if final:
                self._closed = True

    def _flush_if_stale(self) -> None:
        # Called from the ticker thread: publish a value the body set and then went quiet on.
        if self._pending is not self._pushed and self._clock() >= self._next_push:
            self._flush(save=False)

    def close(self) -> None:
        """Deliver the last progress value and output, and stop; the runtime calls it before
        the end event."""
        for writer in list(self._writers.values()):
            try:
                writer.close()
            except Exception as exc:  # noqa: BLE001 - output never fails a job that ended
                logger.warning("closing output %s of job %s failed: %s", writer.key, self.job_id, exc)
        self._flush(save=True, final=True)
        _ticker().forget(self)


class _Ticker:
    """One daemon thread per process that pushes progress left pending by a quiet job."""

    def __init__(self, period: float) -> None:
        self.period = period
        self.contexts: weakref.WeakSet[JobContext] = weakref.WeakSet()
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None

    def watch(self, ctx: JobContext) -> None:
        with self.lock:
            self.contexts.add(ctx)
            if self.thread is None:
                self.thread = threading.Thread(target=self._run, name="coucou-progress", daemon=True)
                self.thread.start()

    def forget(self, ctx: JobContext) -> None:
        with self.lock:
            self.contexts.discard(ctx)

    def _run(self) -> None:
        while True:
            time.sleep(self.period)
            with self.lock:
                contexts = list(self.contexts)
            for ctx in contexts:
                try:
                    ctx._flush_if_stale()
                except Exception as exc:  # noqa: BLE001 - a failed push is retried on the next tick
                    logger.debug("progress push failed, retrying on the next tick: %s", exc)


_tickers: dict[int, _Ticker] = {}


def _ticker() -> _Ticker:
    # Per process: a Celery prefork child does not inherit its parent's thread.
    pid = os.getpid()
    if pid not in _tickers:
        _tickers.clear()
        _tickers[pid] = _Ticker(period=0.1)
    return _tickers[pid]
