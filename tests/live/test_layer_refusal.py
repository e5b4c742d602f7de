"""daphne, the Celery worker and manage.py refuse to start on a layer the relay cannot reach.

Each is started as a real process with a channel layer that would lose every live event
without a word (realtime/topology.py), and must exit non-zero, saying why.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.live.harness import BIN, ROOT

PUBSUB = "channels_redis.pubsub.RedisPubSubChannelLayer"
REDIS = "redis://127.0.0.1:6399/0"

LAYERS = {
    "sharded": (
        {"BACKEND": PUBSUB, "CONFIG": {"hosts": [REDIS, "redis://127.0.0.1:6400/0"], "prefix": "coucou"}},
        "CONFIG['hosts'] lists 2 hosts",
    ),
    "core": (
        {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [REDIS]}},
        f"the relay publishes only to {PUBSUB}",
    ),
    "encrypted": (
        {"BACKEND": PUBSUB, "CONFIG": {"hosts": [REDIS], "symmetric_encryption_keys": ["k"]}},
        "CONFIG['symmetric_encryption_keys'] is set",
    ),
    "elsewhere": (
        {"BACKEND": PUBSUB, "CONFIG": {"hosts": ["redis://10.9.9.9:6379/0"], "prefix": "coucou"}},
        "CONFIG['hosts'][0] is 10.9.9.9:6379, not the realtime Redis (127.0.0.1:6399)",
    ),
}

COMMANDS = {
    "manage.py check": [sys.executable, "manage.py", "check"],
    "daphne": [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", "0", "config.asgi:application"],
    "celery worker": [
        str(BIN / "celery"),
        "-A",
        "config",
        "worker",
        "--concurrency",
        "1",
        "--without-mingle",
    ],
}


def run(argv: list[str], layer: dict[str, object], tmp: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_SETTINGS"))},
        "DJANGO_SETTINGS_MODULE": "tests.live.layer_settings",
        "COUCOU_TEST_CHANNEL_LAYER": json.dumps(layer),
        "REDIS_URL": REDIS,  # nothing listens there: the refusal comes before any connection
        "DATABASE_URL": f"sqlite:///{tmp / 'db.sqlite3'}",
    }
    return subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("command", COMMANDS)
def test_each_process_refuses_a_sharded_layer(command: str, tmp_path: Path) -> None:
    layer, reason = LAYERS["sharded"]
    done = run(COMMANDS[command], layer, tmp_path)
    assert done.returncode != 0, done.stdout + done.stderr
    assert "ImproperlyConfigured: CHANNEL_LAYERS['default'] cannot carry Coucou's events" in done.stderr
    assert reason in done.stderr


@pytest.mark.parametrize("name", [name for name in LAYERS if name != "sharded"])
def test_manage_py_check_names_the_problem(name: str, tmp_path: Path) -> None:
    layer, reason = LAYERS[name]
    done = run(COMMANDS["manage.py check"], layer, tmp_path)
    assert done.returncode != 0
    assert reason in done.stderr
