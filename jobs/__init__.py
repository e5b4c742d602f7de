"""Coucou's job domain. Job authors need only ``job`` and ``JobContext``."""

from jobs.context import JobContext
from jobs.registry import job
from jobs.signals import long_wait_detected

__all__ = ("JobContext", "job", "long_wait_detected")
