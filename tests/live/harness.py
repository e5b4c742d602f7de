"""A real Coucou stack in subprocesses: Redis, daphne and Celery workers, for live tests."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import websockets

from devtools.procs import Proc
from devtools.redis_server import RedisServer, free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


class Stack:
    def __init__(self, tmp: Path, *, redis_appendonly: bool = True, **settings: str) -> None:
        self.tmp = tmp
        self.redis = RedisServer(tmp / "redis", appendonly=redis_appendonly).start()
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_SETTINGS"))},
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "REDIS_URL": self.redis.url,
            "DATABASE_URL": f"sqlite:///{tmp / 'db.sqlite3'}",
            "PYTHONUNBUFFERED": "1",
            "LOG_LEVEL": "INFO",
            **settings,
        }
        self.procs: list[Proc] = []
        self.webs: list[tuple[Proc, int]] = []
        self.workers: dict[str, Proc] = {}
        self.manage("migrate", "--noinput", "-v", "0")

    # --- processes -------------------------------------------------------------------
    def manage(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if done.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stderr}")
        return done.stdout

    def start_web(self, port: int | None = None, *options: str) -> tuple[Proc, int]:
        port = port or free_port()
        name = f"web-{port}"
        proc = Proc(
            name,
            [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), *options, "config.asgi:application"],
            env=self.env, cwd=ROOT, log=self.tmp / f"{name}.log",
        ).start()  # fmt: skip
        self.procs.append(proc)
        self.webs.append((proc, port))
        wait_until(lambda: _health(port), timeout=30, what=f"daphne on {port}", proc=proc)
        return proc, port

    def start_worker(self, name: str = "w1", concurrency: int = 2) -> Proc:
        log = self.tmp / f"worker-{name}.log"
        proc = Proc(
            f"worker-{name}",
            [str(BIN / "celery"), "-A", "config", "worker", "-l", "INFO", "--concurrency", str(concurrency),
             "--hostname", f"{name}@%h", "--without-mingle", "--without-gossip"],
            env=self.env, cwd=ROOT, log=log,
        ).start()  # fmt: skip
        self.procs.append(proc)
        self.workers[name] = proc
        wait_until(lambda: b" ready." in log.read_bytes(), timeout=60, what=f"worker {name}", proc=proc)
        return proc

    def start_flower(self, port: int, auth: str) -> Proc:
        proc = Proc(
            "flower",
            [str(BIN / "celery"), "-A", "config", "flower", "--address=127.0.0.1", f"--port={port}"],
            env={**self.env, "FLOWER_BASIC_AUTH": auth}, cwd=ROOT, log=self.tmp / "flower.log",
        ).start()  # fmt: skip
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()
        self.redis.stop()

    # --- clients ---------------------------------------------------------------------
    @property
    def port(self) -> int:
        return self.webs[0][1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def user_id(self, username: str) -> int:
        code = (
            f"from django.contrib.auth.models import User; print(User.objects.get(username={username!r}).pk)"
        )
        return int(self.manage("shell", "-v", "0", "-c", code).strip().splitlines()[-1])

    def burst(self, username: str, n: int, *, size: int = 0) -> subprocess.Popen[str]:
        """Publish ``n`` events to a user as fast as one process can, through realtime.publish."""
        code = (
            "import django; django.setup()\n"
            "from realtime import publish\n"
            f"pad = 'x' * {size}\n"
            f"for i in range({n}): publish({self.user_id(username)}, 'test.burst', {{'i': i, 'pad': pad}})\n"
        )
        return subprocess.Popen([sys.executable, "-c", code], env=self.env, cwd=ROOT, text=True)

    def redis_client(self) -> Any:
        import redis

        return redis.Redis.from_url(self.redis.url)

    def create_users(self, *usernames: str, password: str) -> None:
        """Users who can sign in on the page, hashed by the server's own password hasher."""
        code = (
            "from django.contrib.auth import get_user_model\n"
            f"for name in {list(usernames)!r}:\n"
            f"    get_user_model().objects.create_user(username=name, password={password!r})\n"
        )
        self.manage("shell", "-v", "0", "-c", code)

    def token(self, username: str) -> str:
        out = self.manage("create_token", username, "--create-user")
        return out.strip().splitlines()[-1]

    def http(self, token: str | None = None, port: int | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port or self.port}", headers=headers, timeout=10
        )

    def ws(
        self,
        token: str | None = None,
        *,
        after: int | None = None,
        epoch: str | None = None,
        port: int | None = None,
    ) -> Any:
        query = f"?after={after}" if after is not None else ""
        query += f"&epoch={epoch}" if epoch is not None else ""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return websockets.connect(
            f"ws://127.0.0.1:{port or self.port}/ws/events/{query}",
            additional_headers=headers,
            max_size=2**22,
        )


@contextmanager
def running_stack(
    tmp: Path, *, workers: Sequence[str] = ("w1",), redis_appendonly: bool = True, **settings: str
) -> Iterator[Stack]:
    """Redis, one daphne and the named Celery workers, with ``settings`` in their environment."""
    live = Stack(tmp, redis_appendonly=redis_appendonly, **settings)
    try:
        live.start_web()
        for name in workers:
            live.start_worker(name)
        yield live
    finally:
        live.stop()


def _health(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def wait_until(check: Callable[[], Any], *, timeout: float, what: str, proc: Proc | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if proc is not None and not proc.alive():
            raise RuntimeError(f"{what} exited early; see {proc.log}:\n{_tail(proc.log)}")
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"{what} not ready after {timeout}s" + (f":\n{_tail(proc.log)}" if proc else "")
            )
        time.sleep(0.05)


def _tail(path: Path | None) -> str:
    if path is None or not path.exists():
        return ""
    return path.read_text(errors="replace")[-3000:]


async def recv_json(ws: Any, timeout: float = 10) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def frames_until(
    ws: Any, stop: Callable[[dict[str, Any]], bool], timeout: float = 20
) -> list[dict[str, Any]]:
    """Every frame received until (and including) the first one ``stop`` accepts."""
    frames: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while True:
        try:
            frame = await recv_json(ws, max(0.01, deadline - time.monotonic()))
        except TimeoutError:
            seen = [(f.get("seq"), f.get("type")) for f in frames]
            raise AssertionError(f"no awaited frame in {timeout} s; frames seen: {seen}") from None
        frames.append(frame)
        if stop(frame):
            return frames


def job_ended(job_id: str) -> Callable[[dict[str, Any]], bool]:
    terminal = {"job.succeeded", "job.failed", "job.cancelled"}
    return lambda frame: frame.get("job") == job_id and frame["type"] in terminal
