"""The jobs app's settings, read in one place with their defaults."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed


@dataclass(frozen=True)
class JobsSettings:
    progress_max_hz: float
    progress_db_interval_s: float
    max_attempts: int
    heartbeat_ttl_s: float
    supervise_interval_s: float
    reap_interval_s: float
    cancel_grace_s: float
    max_active_per_user: int
    max_params_bytes: int
    enable_crash_demo: bool
    retention_days: float | None
    purge_interval_s: float
    purge_batch_size: int
    long_wait_s: float | None  # None: no long-wait alerts unless a task sets its own
    console_live: bool
    output_ttl_s: int
    output_max_bytes: int
    output_batch_s: float
    output_batch_bytes: int


@functools.cache
def get() -> JobsSettings:
    # Read once per process, not per request or task (cleared when settings change).
    return JobsSettings(
        progress_max_hz=float(getattr(settings, "JOBS_PROGRESS_MAX_HZ", 10)),
        progress_db_interval_s=float(getattr(settings, "JOBS_PROGRESS_DB_INTERVAL_S", 1)),
        max_attempts=int(getattr(settings, "JOBS_MAX_ATTEMPTS", 3)),
        heartbeat_ttl_s=float(getattr(settings, "JOBS_HEARTBEAT_TTL_S", 10)),
        supervise_interval_s=float(getattr(settings, "JOBS_SUPERVISE_INTERVAL_S", 0.5)),
        reap_interval_s=float(getattr(settings, "JOBS_REAP_INTERVAL_S", 5)),
        cancel_grace_s=float(getattr(settings, "JOBS_CANCEL_GRACE_S", 10)),
        max_active_per_user=int(getattr(settings, "JOBS_MAX_ACTIVE_PER_USER", 20)),
        max_params_bytes=int(getattr(settings, "JOBS_MAX_PARAMS_BYTES", 16 * 1024)),
        enable_crash_demo=bool(getattr(settings, "JOBS_ENABLE_CRASH_DEMO", False)),
        retention_days=float(getattr(settings, "JOBS_RETENTION_DAYS", 30) or 0) or None,
        purge_interval_s=float(getattr(settings, "JOBS_PURGE_INTERVAL_S", 3600)),
        purge_batch_size=int(getattr(settings, "JOBS_PURGE_BATCH_SIZE", 1000)),
        long_wait_s=float(getattr(settings, "JOBS_LONG_WAIT_S", 60) or 0) or None,
        console_live=bool(getattr(settings, "JOBS_CONSOLE_LIVE", True)),
        output_ttl_s=int(getattr(settings, "JOBS_OUTPUT_TTL_S", 24 * 3600)),
        output_max_bytes=int(getattr(settings, "JOBS_OUTPUT_MAX_BYTES", 16 * 1024 * 1024)),
        output_batch_s=float(getattr(settings, "JOBS_OUTPUT_BATCH_MS", 50)) / 1000,
        output_batch_bytes=int(getattr(settings, "JOBS_OUTPUT_BATCH_BYTES", 16 * 1024)),
    )


def _settings_changed(**_: Any) -> None:
    get.cache_clear()


setting_changed.connect(_settings_changed)
