"""Coucou with Celery's result backend resolved once per process, to measure the change
recommended for config/celery_app.py (bench/RESULTS.md): ``bench.variant_celery:application``.

Celery keeps its backend per thread, and under ASGI Django runs each request's sync code on
a new thread, so every ``apply_async`` rebuilds it, scanning every installed package's entry
points. With results ignored the backend is a stateless ``DisabledBackend``: one is enough.
"""

from __future__ import annotations

from config.asgi import application
from config.celery_app import app as celery_app

_backend = celery_app.backend
celery_app.__class__ = type(
    "ProcessWideBackend", (type(celery_app),), {"backend": property(lambda _: _backend)}
)

__all__ = ("application",)
