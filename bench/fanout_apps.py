"""The app that declares the fan-out benchmark's namespace (``bench.fanout_settings``)."""

from __future__ import annotations

from django.apps import AppConfig


class FanoutBench(AppConfig):
    name = "bench"
    label = "bench_fanout"
    verbose_name = "Coucou fan-out benchmark"

    def ready(self) -> None:
        from bench import fanout_realtime  # noqa: F401 - declares the namespace
