from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live.harness import Stack, _tail, running_stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Redis, one daphne and one Celery worker, shared by the tests of one module."""
    with running_stack(Path(tmp_path_factory.mktemp("stack"))) as live:
        yield live


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failing live test's report ends with the tail of each process log of its stack."""
    outcome = yield
    report = outcome.get_result()
    live = getattr(item, "funcargs", {}).get("stack")
    if report.failed and isinstance(live, Stack):
        for path in sorted(live.tmp.glob("*.log")):
            report.sections.append((f"log {path.name}", _tail(path)))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/live/" in str(item.fspath):
            item.add_marker(pytest.mark.live)
