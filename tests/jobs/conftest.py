from __future__ import annotations

from collections.abc import Iterator

import pytest

from config.celery_app import app as celery_app
from jobs.registry import _registry


@pytest.fixture(autouse=True)
def _fast_password_hashing(fast_password_hashing: None) -> None:
    pass


@pytest.fixture
def scratch_registry() -> Iterator[None]:
    """Jobs a test registers are forgotten afterwards, by the registry and by Celery."""
    saved = dict(_registry)
    yield
    for name in _registry.keys() - saved.keys():
        celery_app.tasks.unregister(name)
    _registry.clear()
    _registry.update(saved)
