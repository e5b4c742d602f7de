"""`make run`'s supervisor: the whole platform up, and nothing left running after a stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import psutil
import pytest

from devtools.redis_server import free_port
from tests.live.harness import ROOT, wait_until


def _up(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.parametrize("stop", ["ctrl-c", "sigterm"])
def test_run_serves_everything_and_a_stop_leaves_nothing_running(tmp_path: Path, stop: str) -> None:
    web, flower, redis = free_port(), free_port(), free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"REDIS_URL", "DATABASE_URL", "DJANGO_SETTINGS_MODULE"}
    }
    env |= {"COUCOU_DATA_DIR": str(tmp_path), "PORT": str(web), "FLOWER_PORT": str(flower),
            "COUCOU_REDIS_PORT": str(redis), "WORKER_CONCURRENCY": "1"}  # fmt: skip
    log = (tmp_path / "run.log").open("wb")
    runner = subprocess.Popen(
        [sys.executable, "-m", "devtools.run"], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, as a terminal gives it
    )  # fmt: skip
    try:
        wait_until(lambda: _up(f"http://127.0.0.1:{web}/api/health"), timeout=60, what="web")
        wait_until(lambda: _up(f"http://127.0.0.1:{flower}/healthcheck"), timeout=60, what="flower")
        wait_until(lambda: b" ready." in (tmp_path / "run.log").read_bytes(), timeout=60, what="worker")
        children = psutil.Process(runner.pid).children(recursive=True)
        names = " ".join(" ".join(child.cmdline()) for child in children)
        assert "redis-server" in names and "daphne" in names and "worker" in names and "flower" in names
        if stop == "ctrl-c":
            os.killpg(runner.pid, signal.SIGINT)  # what a terminal sends to its foreground group
        else:
            runner.send_signal(signal.SIGTERM)  # what make forwards to its child
        assert runner.wait(60) == 0
        _, alive = psutil.wait_procs(children, timeout=15)
        assert not alive, f"left running: {[p.cmdline() for p in alive]}"
    finally:
        if runner.poll() is None:
            os.killpg(runner.pid, signal.SIGKILL)
        log.close()
    output = (tmp_path / "run.log").read_text()
    assert "create_token" in output and f"127.0.0.1:{flower}" in output
    assert (tmp_path / "redis" / "appendonly.aof").exists() or (tmp_path / "redis" / "appendonlydir").exists()
