"""Coucou's settings for the fan-out benchmark: the ``bench`` namespace, limits out of the way.

10,000 sockets without credentials come from one address (127.0.0.1), so the per-IP (and
per-user) socket limits are raised; nothing else differs from ``config/settings.py``.
"""

from __future__ import annotations

from config.settings import *  # noqa: F403
from config.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "bench.fanout_apps.FanoutBench"]
REALTIME_MAX_ANONYMOUS_PER_IP = 1_000_000
REALTIME_MAX_SOCKETS_PER_USER = 1_000_000
