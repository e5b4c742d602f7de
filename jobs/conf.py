"""The jobs app's settings, read in one place with their defaults."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class JobsSettings:
    progress_max_hz: float
    progress_db_interval_s: float


def get() -> JobsSettings:
    return JobsSettings(
        progress_max_hz=float(getattr(settings, "JOBS_PROGRESS_MAX_HZ", 10)),
        progress_db_interval_s=float(getattr(settings, "JOBS_PROGRESS_DB_INTERVAL_S", 1)),
    )
