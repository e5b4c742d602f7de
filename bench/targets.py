"""What the benchmark can point its load at: Coucou, the two relays, and variants of them
used to measure a change before and after (``python -m bench.compare``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

NOHIREDIS = Path(__file__).resolve().parent / "nohiredis"


@dataclass(frozen=True)
class TargetSpec:
    app: str
    publisher: str  # bench.load kind: coucou, core or pubsub
    env: dict[str, str] = field(default_factory=dict)
    uvloop: bool = False

    @property
    def sockets(self) -> str:
        return "coucou" if self.publisher == "coucou" else "relay"


def _relay(layer: str, *, uvloop: bool = False) -> TargetSpec:
    env = {"DJANGO_SETTINGS_MODULE": "bench.relay_settings", "BENCH_RELAY_LAYER": layer}
    return TargetSpec("bench.relay:application", layer, env, uvloop)


SPECS: dict[str, TargetSpec] = {
    "coucou": TargetSpec("config.asgi:application", "coucou"),
    "relay_pubsub": _relay("pubsub"),
    "relay_core": _relay("core"),
    # variants, for before/after measurements
    "coucou_uvloop": TargetSpec("config.asgi:application", "coucou", uvloop=True),
    "coucou_nohiredis": TargetSpec("config.asgi:application", "coucou", {"PYTHONPATH": str(NOHIREDIS)}),
    # Coucou collecting no metrics: what they cost (make bench runs it beside coucou)
    "coucou_nometrics": TargetSpec("config.asgi:application", "coucou", {"METRICS_ENABLED": "0"}),
    "relay_pubsub_uvloop": _relay("pubsub", uvloop=True),
}


# --- fan-out (bench/fanout.py): one broadcast channel, thousands of sockets on one web process


@dataclass(frozen=True)
class FanoutSpec:
    app: str
    publisher: str  # bench.fanout_load kind: coucou, core or pubsub
    path: str
    subscribe: str | None = None  # the frame a socket sends after its hello, if any
    env: dict[str, str] = field(default_factory=dict)
    uvloop: bool = False
    launcher: tuple[str, ...] = ()  # python -m <these>, instead of daphne's own command


FANOUT_SUBSCRIBE = '{"type":"subscribe","channel":"bench:all"}'


def _fanout_relay(layer: str) -> FanoutSpec:
    env = {"DJANGO_SETTINGS_MODULE": "bench.relay_settings", "BENCH_RELAY_LAYER": layer}
    return FanoutSpec("bench.fanout_relay:application", layer, "/ws/relay/", env=env)


FANOUT_SPECS: dict[str, FanoutSpec] = {
    # anonymous sockets on the public namespace bench (bench/fanout_realtime.py)
    "coucou": FanoutSpec(
        "config.asgi:application",
        "coucou",
        "/ws/events/",
        FANOUT_SUBSCRIBE,
        {"DJANGO_SETTINGS_MODULE": "bench.fanout_settings"},
    ),
    "relay_pubsub": _fanout_relay("pubsub"),
    "relay_core": _fanout_relay("core"),
    # variants, for before/after measurements (python -m bench.fanout A B)
    "coucou_uvloop": FanoutSpec(
        "config.asgi:application",
        "coucou",
        "/ws/events/",
        FANOUT_SUBSCRIBE,
        {"DJANGO_SETTINGS_MODULE": "bench.fanout_settings"},
        uvloop=True,
    ),
    # Coucou without its seq sweep (one pass an hour): what the sweep costs a broadcast
    "coucou_nosweep": FanoutSpec(
        "config.asgi:application",
        "coucou",
        "/ws/events/",
        FANOUT_SUBSCRIBE,
        {"DJANGO_SETTINGS_MODULE": "bench.fanout_settings", "REALTIME_SWEEP_INTERVAL_S": "3600"},
    ),
    # Coucou with a garbage-collector probe in its web process (bench/fanout_serve.py)
    "coucou_gcprobe": FanoutSpec(
        "config.asgi:application",
        "coucou",
        "/ws/events/",
        FANOUT_SUBSCRIBE,
        {"DJANGO_SETTINGS_MODULE": "bench.fanout_settings"},
        launcher=("bench.fanout_serve",),
    ),
    # the same, with remedies tried: a first-generation threshold of 50,000; gc.freeze() every 5 s
    "coucou_gc50k": FanoutSpec(
        "config.asgi:application",
        "coucou",
        "/ws/events/",
        FANOUT_SUBSCRIBE,
        {"DJANGO_SETTINGS_MODULE": "bench.fanout_settings", "BENCH_GC_THRESHOLD0": "50000"},
        launcher=("bench.fanout_serve",),
    ),
    "coucou_gcfreeze": FanoutSpec(
        "config.asgi:application",
        "coucou",
        "/ws/events/",
        FANOUT_SUBSCRIBE,
        {"DJANGO_SETTINGS_MODULE": "bench.fanout_settings", "BENCH_GC_FREEZE_S": "5"},
        launcher=("bench.fanout_serve",),
    ),
}

# The fan-out goals (issue 14): Coucou's zero-loss deliveries/s at least the pub/sub relay's,
# nothing lost at twice its own saturation rate, and one broadcast to every socket of an
# idle web process within 250 ms at p99 (publish -> the last socket's frame).
FANOUT_GOALS = {
    "zero_loss_vs_relay_pubsub": 1.0,  # Coucou's zero-loss deliveries/s / the pub/sub relay's
    "lost_at_2x": 0,
    "idle_last_socket_p99_ms": 250.0,
}
