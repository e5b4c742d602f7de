"""The fan-out benchmark's namespace: ``bench:<name>``, public, with a long history.

Declared for the benchmark only: loaded by ``bench.fanout_apps`` from
``bench.fanout_settings``, never by ``config/settings.py``. Anyone may read it, anonymous
sockets too, so 10,000 sockets need no users or tokens.
"""

from __future__ import annotations

from typing import Any

from realtime import namespace

CHANNEL = "bench:all"


@namespace("bench", public=True, history=10_000)
def bench(user: Any, name: str) -> bool:
    return True
