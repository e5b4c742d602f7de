"""Coucou's job domain. Job authors need only ``job`` and ``JobContext``."""

from jobs.context import JobContext
from jobs.registry import job

__all__ = ("JobContext", "job")
