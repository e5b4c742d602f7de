"""The start-up check of the channel layer against what the Lua relay can honour (realtime/topology.py)."""

from __future__ import annotations

from typing import Any

import pytest
from channels_redis.pubsub import RedisPubSubChannelLayer
from django.core.exceptions import ImproperlyConfigured

from realtime.topology import check_layer

PUBSUB = "channels_redis.pubsub.RedisPubSubChannelLayer"


class PlainSubclass(RedisPubSubChannelLayer):
    pass


class JsonLayer(RedisPubSubChannelLayer):
    """A subclass that decodes with another serializer than the one its CONFIG names."""

    def deserialize(self, message: bytes) -> Any:
        import json

        return json.loads(message)


@pytest.fixture
def realtime_url(settings: Any) -> str:
    settings.REALTIME_REDIS_URL = "redis://10.0.0.5:6380/2"
    settings.REALTIME_REDIS_SENTINELS = []
    settings.REALTIME_REDIS_SENTINEL_MASTER = ""
    return settings.REALTIME_REDIS_URL


def layer(settings: Any, backend: str = PUBSUB, **config: Any) -> None:
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": backend, "CONFIG": {"prefix": "coucou", **config}}}


def refusal() -> str:
    with pytest.raises(ImproperlyConfigured) as refused:
        check_layer()
    return str(refused.value)


def test_the_shipped_settings_pass() -> None:
    check_layer()  # config/settings.py as it is


def test_the_same_server_under_another_db_or_as_a_dict_passes(settings: Any, realtime_url: str) -> None:
    # Pub/sub ignores the database number: PUBLISH on db 2 reaches a subscriber on db 0.
    for host in ("redis://10.0.0.5:6380/0", {"address": realtime_url, "max_connections": 500}):
        layer(settings, hosts=[host])
        check_layer()
    layer(settings, hosts=[("10.0.0.5", 6380)])
    check_layer()
    layer(settings, f"{__name__}.PlainSubclass", hosts=[realtime_url])
    check_layer()


@pytest.mark.parametrize(
    "backend", ["channels_redis.core.RedisChannelLayer", "channels.layers.InMemoryChannelLayer"]
)
def test_another_backend_is_refused_naming_the_one_that_works(
    settings: Any, realtime_url: str, backend: str
) -> None:
    layer(settings, backend, hosts=[realtime_url])
    message = refusal()
    assert f"BACKEND is {backend!r}: the relay publishes only to {PUBSUB}" in message


def test_a_backend_that_does_not_import_is_refused(settings: Any, realtime_url: str) -> None:
    layer(settings, "nowhere.Layer", hosts=[realtime_url])
    assert "BACKEND 'nowhere.Layer' cannot be imported" in refusal()


def test_several_hosts_are_refused_as_sharding(settings: Any, realtime_url: str) -> None:
    layer(settings, hosts=[realtime_url, "redis://10.0.0.6:6379/0"])
    message = refusal()
    assert "CONFIG['hosts'] lists 2 hosts" in message
    assert "Coucou does not shard the realtime layer" in message


def test_a_host_that_is_not_the_realtime_redis_is_refused(settings: Any, realtime_url: str) -> None:
    layer(settings, hosts=["redis://10.0.0.9:6379/0"])
    assert "CONFIG['hosts'][0] is 10.0.0.9:6379, not the realtime Redis (10.0.0.5:6380)" in refusal()


def test_a_plain_host_beside_sentinels_is_refused(settings: Any, realtime_url: str) -> None:
    settings.REALTIME_REDIS_SENTINELS = [("10.0.0.7", 26379), ("10.0.0.8", 26379)]
    settings.REALTIME_REDIS_SENTINEL_MASTER = "coucou"
    layer(settings, hosts=[realtime_url])
    assert (
        "is 10.0.0.5:6380, not the realtime Redis "
        "(Sentinel master 'coucou' via 10.0.0.7:26379,10.0.0.8:26379)" in refusal()
    )
    # The same master through the same Sentinels, in any order, passes; another master does not.
    sentinels = [("10.0.0.8", 26379), ("10.0.0.7", 26379)]
    layer(settings, hosts=[{"master_name": "coucou", "sentinels": sentinels}])
    check_layer()
    layer(settings, hosts=[{"master_name": "other", "sentinels": sentinels}])
    assert "Sentinel master 'other'" in refusal()


def test_encryption_keys_are_refused(settings: Any, realtime_url: str) -> None:
    layer(settings, hosts=[realtime_url], symmetric_encryption_keys=["s3cret"])
    assert "CONFIG['symmetric_encryption_keys'] is set: the relay publishes plain msgpack" in refusal()


def test_another_serializer_is_refused(settings: Any, realtime_url: str) -> None:
    layer(settings, hosts=[realtime_url], serializer_format="json")
    assert "CONFIG['serializer_format'] is 'json': the relay publishes msgpack" in refusal()


def test_a_subclass_that_cannot_read_the_relays_messages_is_refused(settings: Any, realtime_url: str) -> None:
    layer(settings, f"{__name__}.JsonLayer", hosts=[realtime_url])
    assert "the layer cannot decode the relay's msgpack messages" in refusal()


def test_a_prefix_that_is_not_a_string_is_refused(settings: Any, realtime_url: str) -> None:
    layer(settings, hosts=[realtime_url], prefix=7)
    assert "CONFIG['prefix'] must be a string" in refusal()


def test_every_problem_is_named_at_once(settings: Any, realtime_url: str) -> None:
    layer(settings, hosts=["redis://a:1/0", "redis://b:2/0"], symmetric_encryption_keys=["k"])
    message = refusal()
    assert message.startswith("CHANNEL_LAYERS['default'] cannot carry Coucou's events")
    assert message.count("\n- ") == 2


def test_no_layer_at_all_is_refused(settings: Any) -> None:
    settings.CHANNEL_LAYERS = {}
    assert "there is no default channel layer" in refusal()


def test_the_check_can_be_turned_off_for_a_relay_that_is_not_coucous(settings: Any) -> None:
    settings.REALTIME_CHECK_CHANNEL_LAYER = False
    layer(settings, "channels_redis.core.RedisChannelLayer")
    check_layer()
