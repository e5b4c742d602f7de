"""publish_to and its on-commit form, and how a channel is named in Redis and in Channels."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from django.db import transaction

from realtime import ChannelError, namespace, namespaces, publish_to, publish_to_on_commit
from realtime.groups import channel_stream, group_for_channel
from realtime.stream import read_stream

pytestmark = pytest.mark.usefixtures("redis_db")


@pytest.fixture(autouse=True)
def declared() -> Iterator[None]:
    saved = dict(namespaces._registry)

    @namespace("notes", history=50)
    def notes(user: Any, name: str) -> bool:
        return True

    yield
    namespaces._registry.clear()
    namespaces._registry.update(saved)


def frames(channel: str) -> list[dict[str, Any]]:
    ns, _, name = channel.partition(":")
    return [orjson.loads(f) for _, f in read_stream(channel_stream(ns, name), 0, 100).frames]


def test_publish_to_numbers_each_channel_on_its_own():
    assert [publish_to("notes:a", "n"), publish_to("notes:a", "n"), publish_to("notes:b", "n")] == [1, 2, 1]
    [first, second] = frames("notes:a")
    assert (first["channel"], first["seq"], second["seq"], first["type"]) == ("notes:a", 1, 2, "n")


@pytest.mark.parametrize(
    ("channel", "code"), [("nope:a", "unknown_channel"), ("notes:A", "bad_channel"), ("x", "bad_channel")]
)
def test_a_bad_channel_fails_where_it_is_published(channel, code):
    with pytest.raises(ChannelError) as raised:
        publish_to(channel, "n")
    assert raised.value.code == code
    with pytest.raises(ChannelError):
        publish_to_on_commit(channel, "n")


@pytest.mark.django_db(transaction=True)
def test_the_on_commit_form_publishes_after_the_commit_and_never_after_a_rollback():
    with transaction.atomic():
        publish_to_on_commit("notes:c", "kept", {"i": 1})
        assert frames("notes:c") == []
    with pytest.raises(RuntimeError), transaction.atomic():
        publish_to_on_commit("notes:c", "dropped")
        raise RuntimeError
    assert [f["type"] for f in frames("notes:c")] == ["kept"]


def test_group_names_fit_channels_redis_and_a_long_name_is_digested_apart():
    assert group_for_channel("chat", "lobby") == "chan.chat.lobby"
    long_a, long_b = "a" * 100, "a" * 99 + "b"
    groups = {group_for_channel("chat", long_a), group_for_channel("chat", long_b)}
    assert len(groups) == 2 and all(len(g) < 100 for g in groups)


@pytest.mark.django_db(transaction=True)
def test_a_redis_failure_after_the_commit_is_logged_not_raised(monkeypatch, caplog):
    from redis.exceptions import ConnectionError

    def down(*args: Any, **kwargs: Any) -> int:
        raise ConnectionError("Redis is down")

    monkeypatch.setattr("realtime.channels.publish_to", down)
    with transaction.atomic():
        publish_to_on_commit("notes:d", "lost")
    assert "could not publish lost on notes:d after the commit" in caplog.text
