"""Starts the test suite's own Redis before pytest-django loads the settings.

Unit tests share this server (flushed around each test that asks for ``redis_db``); live
tests start servers of their own so that they can stop and restart them.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from devtools.redis_server import RedisServer

_server: RedisServer | None = None


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(
    early_config: pytest.Config, parser: pytest.Parser, args: list[str]
) -> None:
    global _server
    _server = RedisServer(Path(tempfile.mkdtemp(prefix="coucou-test-redis-")), appendonly=False).start()
    os.environ["REDIS_URL"] = _server.url
    os.environ.pop("DATABASE_URL", None)  # unit tests: pytest-django's own SQLite database


def pytest_unconfigure(config: pytest.Config) -> None:
    if _server is not None:
        _server.stop()
