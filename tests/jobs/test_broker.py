"""Celery's Redis transport (config/broker.py): one Redis client per channel, real Redis."""

from __future__ import annotations

from typing import Any

import pytest
import redis as redis_lib

from config.broker import Channel
from config.celery_app import app
from tests.conftest import broker_messages


@pytest.fixture
def clients_built(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    built: list[Any] = []
    original = Channel._create_client

    def counting(self: Channel, asynchronous: bool = False) -> Any:
        client = original(self, asynchronous)
        if not asynchronous:  # the poller's own client is kombu's, built once per channel
            built.append(client)
        return client

    monkeypatch.setattr(Channel, "_create_client", counting)
    return built


def send(connection: Any, n: int) -> None:
    for i in range(n):
        app.send_task("coucou", args=[f"job-{i}"], connection=connection)


def test_sending_tasks_reuses_one_redis_client(redis_db: redis_lib.Redis, clients_built: list[Any]) -> None:
    with app.connection_for_write() as connection:
        assert isinstance(connection.default_channel, Channel)
        send(connection, 20)
    assert len(broker_messages(redis_db)) == 20
    assert len(clients_built) == 1  # kombu's own Channel builds one per command: 20


def test_a_channel_whose_pools_were_dropped_builds_a_client_on_the_new_pool(
    redis_db: redis_lib.Redis, clients_built: list[Any]
) -> None:
    with app.connection_for_write() as connection:
        send(connection, 2)
        connection.default_channel._disconnect_pools()  # what kombu does after a connection error
        send(connection, 2)
        assert clients_built[-1].connection_pool is connection.default_channel.pool
    assert len(broker_messages(redis_db)) == 4
    assert len(clients_built) == 2


def test_broker_urls_keep_their_scheme_for_flower() -> None:
    from flower.utils.broker import Broker, Redis

    with app.connection_for_write() as connection:
        assert isinstance(connection.default_channel, Channel)
        uri = connection.as_uri(include_password=True)
    assert uri.startswith("redis://")
    assert isinstance(Broker(uri), Redis)  # Flower's queue view picks its client by scheme
