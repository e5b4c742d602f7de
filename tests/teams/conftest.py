from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from realtime import namespaces
from tests.jobs.conftest import scratch_registry  # noqa: F401 - a fixture for these tests too


@pytest.fixture(autouse=True)
def _fast_password_hashing(fast_password_hashing: None) -> None:
    pass


def make_team(*, name: str = "Night shift", slug: str | None = None, members: tuple[Any, ...] = ()) -> Any:
    from teams.models import Team

    team = Team.objects.create(name=name, slug=slug or name.lower().replace(" ", "-"))
    team.members.add(*members)
    return team


@pytest.fixture
def scratch_namespaces() -> Iterator[None]:
    """Namespaces a test declares are forgotten afterwards."""
    saved = dict(namespaces._registry)
    yield
    namespaces._registry.clear()
    namespaces._registry.update(saved)
