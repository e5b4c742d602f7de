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
    # Unit tests: pytest-django's own SQLite database, or a test database on the server
    # COUCOU_TEST_DATABASE_URL names (e.g. postgres://postgres@127.0.0.1:5432/test, for the
    # PostgreSQL paths: .ci/run runs tests/jobs and tests/api there too).
    if os.environ.get("COUCOU_TEST_DATABASE_URL"):
        os.environ["DATABASE_URL"] = os.environ["COUCOU_TEST_DATABASE_URL"]
    else:
        os.environ.pop("DATABASE_URL", None)


def pytest_unconfigure(config: pytest.Config) -> None:
    if _server is not None:
        _server.stop()
