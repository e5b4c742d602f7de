from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live.harness import Stack, running_stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Redis, one daphne and one Celery worker, shared by the tests of one module."""
    with running_stack(Path(tmp_path_factory.mktemp("stack"))) as live:
        yield live


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/live/" in str(item.fspath):
            item.add_marker(pytest.mark.live)
