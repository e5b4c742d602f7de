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
    "relay_pubsub_uvloop": _relay("pubsub", uvloop=True),
}
