"""Liveness and cancellation of running jobs, kept where every worker sees them: Redis.

- Each worker process runs a ``Supervisor`` thread that, every ``JOBS_SUPERVISE_INTERVAL_S``,
  renews the heartbeat of each job it runs (``host:pid``, expiring after
  ``JOBS_HEARTBEAT_TTL_S``) and reads their cancel flags. A job that has not stopped
  ``JOBS_CANCEL_GRACE_S`` after its cancel flag appeared is stopped by force.
- Each worker's main process runs a reaper (``reap_lost_jobs``) every ``JOBS_REAP_INTERVAL_S``:
  a job marked running whose heartbeat expired lost its worker; it is queued again, or failed
  once it has used ``JOBS_MAX_ATTEMPTS``.
Celery's own revoke list lives in worker memory (a new worker has never heard of it), so
Coucou does not rely on it.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.db import close_old_connections

from jobs import conf
from jobs.exceptions import JobCancelled
from realtime.redis import sync_client

logger = logging.getLogger(__name__)
HOST = socket.gethostname()
CANCEL_FLAG_TTL_S = 7 * 24 * 3600


def cancel_key(job_id: str) -> str:
    return f"coucou:job:{job_id}:cancel"


def heartbeat_key(job_id: str) -> str:
    return f"coucou:job:{job_id}:hb"


def request_cancel(job_id: str) -> None:
    sync_client().set(cancel_key(job_id), "1", ex=CANCEL_FLAG_TTL_S)


def cancel_requested(job_id: str) -> bool:
    """Whether the job's owner asked to cancel it (the flag every worker sees at once)."""
    try:
        return bool(sync_client().exists(cancel_key(job_id)))
    except Exception as exc:  # noqa: BLE001 - without Redis, the Job row's request still counts
        logger.warning("could not read the cancel flag of job %s: %s", job_id, exc)
        return False


def previous_attempt_alive(job_id: str) -> bool:
    """Whether the attempt that marked this job running still runs somewhere."""
    owner = sync_client().get(heartbeat_key(job_id))
    if owner is None:
        return False
    host, _, pid = (owner.decode() if isinstance(owner, bytes) else str(owner)).rpartition(":")
    if host == HOST and pid.isdigit():
        return _pid_alive(int(pid))  # on this machine we need not wait for the TTL
    return True


def has_heartbeat(job_id: str) -> bool:
    """Whether any attempt of the job has a heartbeat, live or not yet expired."""
    return bool(sync_client().exists(heartbeat_key(job_id)))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class _Watched:
    job_id: str
    thread_id: int
    hard_stop: Callable[[], None]
    cancel_seen_at: float | None = None
    stopped: bool = False


class Supervisor:
    def __init__(self) -> None:
        self.watched: dict[str, _Watched] = {}
        self.cancelled: set[str] = set()
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None

    def watch(self, job_id: str, *, hard_stop: Callable[[], None]) -> None:
        settings = conf.get()
        sync_client().set(
            heartbeat_key(job_id), f"{HOST}:{os.getpid()}", px=int(settings.heartbeat_ttl_s * 1000)
        )
        with self.lock:
            self.watched[job_id] = _Watched(job_id, threading.get_ident(), hard_stop)
            if self.thread is None:
                self.thread = threading.Thread(target=self._run, name="coucou-supervisor", daemon=True)
                self.thread.start()

    def release(self, job_id: str) -> None:
        with self.lock:
            self.watched.pop(job_id, None)
            self.cancelled.discard(job_id)
        try:
            sync_client().delete(heartbeat_key(job_id))
        except Exception as exc:  # noqa: BLE001 - it expires by itself
            logger.warning("could not clear the heartbeat of job %s: %s", job_id, exc)

    def is_cancelled(self, job_id: str) -> bool:
        return job_id in self.cancelled

    def _run(self) -> None:
        while True:
            settings = conf.get()
            time.sleep(settings.supervise_interval_s)
            try:
                close_old_connections()  # a forced stop writes the Job row from this thread
                self.tick(settings)
            except Exception as exc:  # noqa: BLE001 - Redis may be restarting; try again
                logger.warning("job supervision tick failed: %s", exc)

    def tick(self, settings: conf.JobsSettings) -> None:
        with self.lock:
            watched = list(self.watched.values())
        if not watched:
            return
        pipe = sync_client().pipeline(transaction=False)
        ttl_ms = int(settings.heartbeat_ttl_s * 1000)
        for item in watched:
            pipe.set(heartbeat_key(item.job_id), f"{HOST}:{os.getpid()}", px=ttl_ms)
            pipe.exists(cancel_key(item.job_id))
        flags = pipe.execute()[1::2]
        now = time.monotonic()
        for item, flagged in zip(watched, flags, strict=True):
            if not flagged:
                continue
            self.cancelled.add(item.job_id)
            if item.cancel_seen_at is None:
                item.cancel_seen_at = now
            elif not item.stopped and now - item.cancel_seen_at > settings.cancel_grace_s:
                item.stopped = True
                logger.warning(
                    "job %s ignored its cancellation for %ss: stopping it",
                    item.job_id,
                    settings.cancel_grace_s,
                )
                item.hard_stop()
                interrupt(item.thread_id)


def interrupt(thread_id: int) -> None:
    """Stop a job body that does not check for cancellation.

    In a Celery prefork child the child is killed: the pool replaces it, and the redelivered
    message finds the job cancelled. Elsewhere (solo or thread pools) ``JobCancelled`` is
    raised in the job's thread, which takes effect at its next Python instruction.
    """
    if _in_pool_child():
        os.kill(os.getpid(), signal.SIGKILL)
        return
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), ctypes.py_object(JobCancelled))


def _in_pool_child() -> bool:
    try:
        from billiard.process import current_process
    except ImportError:
        return False
    return current_process().name.startswith("ForkPoolWorker")


_supervisors: dict[int, Supervisor] = {}


def supervisor() -> Supervisor:
    pid = os.getpid()  # per process: a forked pool child starts its own thread
    if pid not in _supervisors:
        _supervisors.clear()
        _supervisors[pid] = Supervisor()
    return _supervisors[pid]
