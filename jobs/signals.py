"""Signals the jobs app sends, for apps to hook (mail, chat, paging)."""

from __future__ import annotations

from django.dispatch import Signal

# A job waited in the queue past its long-wait threshold (jobs/alerts.py); sent once per job
# across every worker, from the worker that saw it, with ``sender=Job`` and the keywords:
#   job_id: str, task: str, owner_id: int,
#   wait_s: float       how long it had waited when seen,
#   threshold_s: float  the threshold it passed (the task's long_wait_s, or JOBS_LONG_WAIT_S),
#   queued: bool        True when it still waits (seen by the periodic sweep), False when it
#                       was just starting (seen as a worker claimed it).
# Receivers run in the worker (a sweep thread or a pool child) and may be called with Redis or
# the database down: keep them quick and let them fail alone; errors are logged, never raised.
long_wait_detected = Signal()
