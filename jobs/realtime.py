"""The ``console`` namespace: ``console:jobs``, every job's lifecycle, for staff (jobs/console.py)."""

from __future__ import annotations

from typing import Any

from realtime import namespace


@namespace("console", history=1_000)
def console(user: Any, name: str) -> bool:
    """Staff who may view jobs in the admin read ``console:jobs``; no one reads anything else."""
    return name == "jobs" and user.is_active and user.is_staff and user.has_perm("jobs.view_job")
