"""Seconds from ``make run`` in a fresh clone to the first pushed ``coucou`` frame.

``python -m bench.firstcoucou [--warm] [--repo PATH]`` clones the repository (its committed
HEAD) into a temporary folder, starts ``make run`` there with pip's cache off
(``PIP_NO_CACHE_DIR=1``; ``--warm`` keeps it), waits for ``/api/health``, creates a token with
``manage.py create_token``, opens ``/ws/events/`` with ``Authorization: Bearer``, POSTs
``/api/coucou`` and stops the clock at the ``coucou`` frame. Then it stops ``make run`` as
Ctrl-C does, checks that nothing it started is left running, reports the runtime venv's size
and package count, and deletes the clone. Free ports throughout, so a running ``make run``
is not disturbed. The clone is measured, not timed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil
import websockets

from devtools.redis_server import free_port

ROOT = Path(__file__).resolve().parent.parent


def _wait(check, timeout: float, what: str, runner: subprocess.Popen[bytes]) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        if runner.poll() is not None:
            raise SystemExit(f"make run exited with {runner.returncode} before {what}")
        if time.monotonic() > deadline:
            raise SystemExit(f"no {what} after {timeout:.0f} s")
        time.sleep(0.1)


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


async def _first_coucou(port: int, token: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws/events/", additional_headers=headers) as ws:
        assert json.loads(await ws.recv())["type"] == "hello"
        async with httpx.AsyncClient() as client:
            answer = await client.post(f"http://127.0.0.1:{port}/api/coucou", headers=headers)
            assert answer.status_code == 202, answer.text
        async with asyncio.timeout(60):
            while json.loads(await ws.recv())["type"] != "coucou":
                pass


def _venv_figures(venv: Path) -> tuple[int, int]:
    size = sum(f.stat().st_size for f in venv.rglob("*") if f.is_file() and not f.is_symlink())
    site = next(venv.glob("lib/python3*/site-packages"))
    return size, len(list(site.glob("*.dist-info")))


def measure(repo: Path, *, warm: bool) -> int:
    with tempfile.TemporaryDirectory(prefix="firstcoucou-") as tmp:
        clone = Path(tmp) / "coucou"
        subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True)
        web, flower, redis = free_port(), free_port(), free_port()
        drop = {"REDIS_URL", "DATABASE_URL", "DJANGO_SETTINGS_MODULE", "VIRTUAL_ENV", "PIP_NO_CACHE_DIR"}
        env = {k: v for k, v in os.environ.items() if k not in drop}
        env |= {"PORT": str(web), "FLOWER_PORT": str(flower), "COUCOU_REDIS_PORT": str(redis)}
        if not warm:
            env["PIP_NO_CACHE_DIR"] = "1"
        log_path = Path(tmp) / "run.log"
        with log_path.open("wb") as log:
            start = time.monotonic()
            runner = subprocess.Popen(
                ["make", "run"], cwd=clone, env=env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, as a terminal gives it
            )  # fmt: skip
            children: list[psutil.Process] = []
            try:
                _wait(lambda: (clone / ".venv" / ".runtime").exists(), 600, "install", runner)
                installed = time.monotonic() - start
                _wait(lambda: _healthy(f"http://127.0.0.1:{web}/api/health"), 120, "/api/health", runner)
                healthy = time.monotonic() - start
                token = subprocess.run(
                    [str(clone / ".venv" / "bin" / "python"), "manage.py", "create_token", "alice",
                     "--create-user"],
                    cwd=clone, env=env | {"REDIS_URL": f"redis://127.0.0.1:{redis}/0"},
                    capture_output=True, text=True, check=True,
                ).stdout.strip().splitlines()[-1]  # fmt: skip
                asyncio.run(_first_coucou(web, token))
                first = time.monotonic() - start
                children = psutil.Process(runner.pid).children(recursive=True)
            except BaseException:
                sys.stderr.write(log_path.read_text(errors="replace")[-4000:])
                raise
            finally:
                if not children and runner.poll() is None:
                    children = psutil.Process(runner.pid).children(recursive=True)
                if runner.poll() is None:
                    os.killpg(runner.pid, signal.SIGINT)  # Ctrl-C, as a terminal sends it
                try:
                    runner.wait(60)
                except subprocess.TimeoutExpired:
                    os.killpg(runner.pid, signal.SIGKILL)
                    runner.wait()
                _, alive = psutil.wait_procs(children, timeout=15)
                for proc in alive:
                    proc.kill()  # and reported below
        size, packages = _venv_figures(clone / ".venv")
        cache = "warm pip cache" if warm else "PIP_NO_CACHE_DIR=1"
        print(f"fresh clone, {cache}: install {installed:.1f} s, /api/health {healthy:.1f} s, "
              f"first coucou frame {first:.1f} s after `make run` started")  # fmt: skip
        print(f".venv: {size / 1e6:.0f} MB, {packages} packages (runtime set)")
        if alive:
            print(f"left running, killed: {[p.pid for p in alive]}")
            return 1
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=ROOT, help="the repository to clone (default: this one)")
    parser.add_argument("--warm", action="store_true", help="keep pip's cache (default: PIP_NO_CACHE_DIR=1)")
    args = parser.parse_args()
    return measure(args.repo, warm=args.warm)


if __name__ == "__main__":
    sys.exit(main())
