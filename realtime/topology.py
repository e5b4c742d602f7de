"""What the realtime app needs of the channel layer, checked when any process starts.

``realtime.publish()`` puts each event on the layer's wire itself, from a Lua script
(realtime/stream.py): on the realtime Redis, as a msgpack map PUBLISHed on
``<prefix>__group__user.<pk>``. A layer that listens anywhere else (another backend, several
hosts that channels-redis would pick between by consistent hash, another serializer,
encrypted messages, another prefix, another Redis server) never hears those events, and
nothing says so: sockets fall back to the one-second sweep, or, with another Redis, to
nothing live at all. Coucou does not shard the realtime layer (platform/SCALING.md); it
refuses such a configuration at start-up instead, in daphne, the Celery worker and
``manage.py`` alike (``RealtimeConfig.ready``).
"""

from __future__ import annotations

from typing import Any

import msgpack
from channels_redis.pubsub import RedisPubSubChannelLayer, RedisPubSubLoopLayer
from channels_redis.utils import decode_hosts
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string
from redis.connection import parse_url

from realtime import conf
from realtime.groups import group_for, pubsub_channel_for

SUPPORTED_BACKEND = "channels_redis.pubsub.RedisPubSubChannelLayer"

# How two settings name a server: ("tcp", host, port), ("unix", path), ("sentinel", master, sentinels).
Server = tuple[Any, ...]


def check_layer() -> None:
    """Raise ImproperlyConfigured, naming every problem, if the relay cannot reach the layer."""
    if not getattr(settings, "REALTIME_CHECK_CHANNEL_LAYER", True):
        return
    layer = getattr(settings, "CHANNEL_LAYERS", {}).get("default")
    problems = layer_problems(layer, conf.get()) if layer else ["there is no default channel layer"]
    if problems:
        raise ImproperlyConfigured(
            "CHANNEL_LAYERS['default'] cannot carry Coucou's events (realtime/topology.py):\n"
            + "\n".join(f"- {problem}" for problem in problems)
            + f"\nCoucou relays through {SUPPORTED_BACKEND} (or a subclass) with one host, the "
            "realtime Redis (REALTIME_REDIS_URL, or REALTIME_REDIS_SENTINELS), the default "
            "msgpack serializer and no symmetric_encryption_keys."
        )


def layer_problems(layer: dict[str, Any], realtime: conf.RealtimeSettings) -> list[str]:
    backend = layer.get("BACKEND", "")
    try:
        cls = import_string(backend)
    except ImportError:
        return [f"BACKEND {backend!r} cannot be imported"]
    if not (isinstance(cls, type) and issubclass(cls, RedisPubSubChannelLayer)):
        return [f"BACKEND is {backend!r}: the relay publishes only to {SUPPORTED_BACKEND}"]
    config: dict[str, Any] = layer.get("CONFIG", {})
    problems = []
    try:
        hosts = decode_hosts(config.get("hosts"))
    except ValueError as exc:
        return [f"CONFIG['hosts']: {exc}"]
    if len(hosts) != 1:
        problems.append(
            f"CONFIG['hosts'] lists {len(hosts)} hosts: channels-redis would spread groups over them "
            "by consistent hash, and the relay publishes on one server (Coucou does not shard "
            "the realtime layer)"
        )
    elif (found := _layer_server(hosts[0])) != (wanted := _realtime_server(realtime)):
        problems.append(
            f"CONFIG['hosts'][0] is {_describe(found)}, not the realtime Redis ({_describe(wanted)}), "
            "where the relay publishes"
        )
    if config.get("symmetric_encryption_keys"):
        problems.append("CONFIG['symmetric_encryption_keys'] is set: the relay publishes plain msgpack")
    if config.get("serializer_format", "msgpack") != "msgpack":
        problems.append(
            f"CONFIG['serializer_format'] is {config['serializer_format']!r}: the relay publishes msgpack"
        )
    prefix = config.get("prefix", "asgi")
    wire = RedisPubSubLoopLayer(hosts=hosts, prefix=prefix)._get_group_channel_name(group_for(1))
    if not isinstance(prefix, str) or wire != pubsub_channel_for(1, realtime.channel_prefix):
        problems.append(
            f"the layer listens for user 1 on {wire!r}, the relay publishes on "
            f"{pubsub_channel_for(1, realtime.channel_prefix)!r} (CONFIG['prefix'] must be a string)"
        )
    if not problems:
        problems += _reads_relay_messages(cls, config)
    return problems


def _reads_relay_messages(cls: type[RedisPubSubChannelLayer], config: dict[str, Any]) -> list[str]:
    """The layer, as configured, decodes what the Lua script's cmsgpack.pack() sends."""
    sample = {"type": "realtime.event", "seq": 1, "epoch": "e", "frame": "{}"}
    try:
        layer = cls(**config)
        decoded = layer.deserialize(msgpack.packb(sample))
    except Exception as exc:  # noqa: BLE001 - whatever it is, the layer cannot read the relay
        return [f"the layer cannot decode the relay's msgpack messages ({type(exc).__name__}: {exc})"]
    if decoded != sample:
        return [f"the layer decodes the relay's message {sample!r} as {decoded!r}"]
    return []


def _realtime_server(realtime: conf.RealtimeSettings) -> Server:
    if realtime.redis_sentinels:
        return ("sentinel", realtime.redis_sentinel_master, frozenset(realtime.redis_sentinels))
    return _url_server(realtime.redis_url)


def _layer_server(host: dict[str, Any]) -> Server:
    if "address" in host:
        return _url_server(host["address"])
    if "master_name" in host:
        sentinels = frozenset((str(h), int(p)) for h, p in host.get("sentinels", ()))
        return ("sentinel", host["master_name"], sentinels)
    if "path" in host:
        return ("unix", host["path"])
    return ("tcp", str(host.get("host", "localhost")).lower(), int(host.get("port", 6379)))


def _url_server(url: str) -> Server:
    parsed = parse_url(url)  # type: ignore[no-untyped-call]
    if "path" in parsed:
        return ("unix", parsed["path"])
    return ("tcp", str(parsed.get("host", "localhost")).lower(), int(parsed.get("port", 6379)))


def _describe(server: Server) -> str:
    if server[0] == "sentinel":
        sentinels = ",".join(f"{h}:{p}" for h, p in sorted(server[2]))
        return f"Sentinel master {server[1]!r} via {sentinels}"
    if server[0] == "unix":
        return f"unix:{server[1]}"
    return f"{server[1]}:{server[2]}"
