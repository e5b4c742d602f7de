from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import redis as redis_lib
from django.conf import settings


@pytest.fixture
def redis_db() -> Iterator[redis_lib.Redis]:
    """The suite's real Redis, empty at the start of the test."""
    client = redis_lib.Redis.from_url(settings.REDIS_URL)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


def make_user(*, username: str = "alice", password: str | None = "pw-for-tests") -> Any:
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user(username=username, password=password)


def make_job(
    *, owner: Any, task: str = "demo.count", params: dict[str, Any] | None = None, **fields: Any
) -> Any:
    from jobs.models import Job

    return Job.objects.create(owner=owner, task=task, params=params or {"n": 3, "interval_ms": 0}, **fields)


def events_of(user: Any) -> list[dict[str, Any]]:
    """Every event in ``user``'s stream, as the user's socket would get them."""
    import orjson

    from realtime.stream import read_after

    return [orjson.loads(frame) for _, frame in read_after(user.pk, 0, 1000).frames]


def broker_messages(redis: redis_lib.Redis) -> list[dict[str, Any]]:
    """The Celery messages waiting in the default queue (a Redis list named "celery")."""
    return [json.loads(raw) for raw in redis.lrange("celery", 0, -1)]


@pytest.fixture
def alice(db: None) -> Any:
    return make_user(username="alice")


@pytest.fixture
def bob(db: None) -> Any:
    return make_user(username="bob")


@pytest.fixture
def alice_token(alice: Any) -> str:
    from api.tokens import create_token

    return create_token(user=alice)


@pytest.fixture
def fast_password_hashing(settings: Any) -> None:
    """Users in this process hash passwords cheaply (PBKDF2 costs ~0.3 s a user).

    Opt-in per folder (tests/<app>/conftest.py): a user created here with this hasher could
    not log in to a server process started with the real settings.
    """
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


class _AnyEpoch:
    """Equal to any epoch the server makes: compare a frame's shape without knowing its epoch."""

    def __eq__(self, other: object) -> bool:
        from realtime.protocol import valid_epoch

        return valid_epoch(other)

    def __repr__(self) -> str:
        return "ANY_EPOCH"


ANY_EPOCH: Any = _AnyEpoch()
