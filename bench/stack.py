"""The processes of one benchmark run: Redis, daphne servers, a Celery worker, and the
line-driven helpers (the socket client and the publishers). All loopback, all children."""

from __future__ import annotations

import os
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

import httpx
import orjson

from devtools.procs import Proc, die_with_parent
from devtools.redis_server import RedisServer, free_port

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


class LineProc:
    """A child that answers one JSON line on stdout for each JSON line on stdin."""

    def __init__(self, name: str, argv: list[str], *, env: dict[str, str], log: Path) -> None:
        self.name = name
        self.log = open(log, "ab")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(
            argv,
            env=env,
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        assert self.popen.stdout is not None
        self._stdout: IO[bytes] = self.popen.stdout
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._stdout, selectors.EVENT_READ)

    def send(self, cmd: str, **args: Any) -> None:
        assert self.popen.stdin is not None
        self.popen.stdin.write(orjson.dumps({"cmd": cmd, **args}, option=orjson.OPT_NON_STR_KEYS) + b"\n")
        self.popen.stdin.flush()

    def receive(self, timeout: float = 120.0) -> dict[str, Any]:
        if not self._selector.select(timeout):
            raise TimeoutError(f"{self.name} did not answer in {timeout}s; see {self.log.name}")
        line = self._stdout.readline()
        if not line:
            raise RuntimeError(f"{self.name} exited; see {self.log.name}")
        result: dict[str, Any] = orjson.loads(line)
        return result

    def call(self, cmd: str, timeout: float = 120.0, **args: Any) -> dict[str, Any]:
        self.send(cmd, **args)
        return self.receive(timeout)

    def close_stdin(self) -> None:
        # End of input is the helpers' signal to finish: each stops at its next command.
        if self.popen.stdin is not None and not self.popen.stdin.closed:
            try:
                self.popen.stdin.close()
            except OSError:
                pass

    def stop(self, timeout: float = 5.0) -> None:
        self.close_stdin()
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
        self.log.close()


class Stack:
    def __init__(self, work: Path) -> None:
        self.work = work
        self.logs = work / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.redis = RedisServer(work / "redis").start()
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_SETTINGS", "PYTEST"))},
            "REDIS_URL": self.redis.url,
            "DATABASE_URL": f"sqlite:///{work / 'db.sqlite3'}",
            "PYTHONUNBUFFERED": "1",
            "LOG_LEVEL": "WARNING",
            "DJANGO_SETTINGS_MODULE": "config.settings",
            # Production-like: DEBUG off (Django keeps no query log, serves no static files).
            "DEBUG": "0",
            "SECRET_KEY": secrets.token_urlsafe(40),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            # The REST phase sends hundreds of jobs for one user: the throttle still runs, never bites.
            "API_ENQUEUE_RATE": "1000000/m",
        }
        self.procs: list[Proc] = []
        self.helpers: list[LineProc] = []

    @classmethod
    def fresh(cls, work: Path) -> Stack:
        """A stack in an emptied ``work``: its own Redis and a migrated database."""
        shutil.rmtree(work, ignore_errors=True)
        stack = cls(work)
        try:
            stack.python("manage.py", "migrate", "--noinput", "-v", "0")
        except BaseException:
            stack.stop()
            raise
        return stack

    def python(self, *args: str, timeout: float = 300) -> str:
        done = subprocess.run(
            [sys.executable, *args], env=self.env, cwd=ROOT, capture_output=True, text=True, timeout=timeout
        )
        if done.returncode != 0:
            raise RuntimeError(f"python {' '.join(args)} failed:\n{done.stderr[-3000:]}")
        return done.stdout

    def web(
        self,
        name: str,
        app: str,
        *,
        env: dict[str, str] | None = None,
        uvloop: bool = False,
        wait: bool = True,
        launcher: list[str] | None = None,
    ) -> Server:
        port = free_port()
        if launcher is None:
            launcher = [sys.executable, "-m", "bench.serve"] if uvloop else [str(BIN / "daphne")]
        proc = Proc(
            name,
            [*launcher, "-b", "127.0.0.1", "-p", str(port), app],
            env={**self.env, **(env or {})},
            cwd=ROOT,
            log=self.logs / f"{name}.log",
        ).start()
        self.procs.append(proc)
        server = Server(name, proc, port)
        if wait:
            server.wait_ready()
        return server

    def worker(
        self, concurrency: int = 2, *, env: dict[str, str] | None = None, name: str = "worker"
    ) -> Proc:
        log = self.logs / f"{name}.log"
        proc = Proc(
            name,
            [
                str(BIN / "celery"),
                "-A",
                "config",
                "worker",
                "-l",
                "INFO",
                "--concurrency",
                str(concurrency),
                "--hostname",
                "bench@%h",
                "--without-mingle",
                "--without-gossip",
            ],
            env={**self.env, **(env or {})},
            cwd=ROOT,
            log=log,
        ).start()
        self.procs.append(proc)
        deadline = time.monotonic() + 60
        while b" ready." not in log.read_bytes():
            if not proc.alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the Celery worker did not start; see {log}")
            time.sleep(0.1)
        return proc

    def helper(self, name: str, *args: str, env: dict[str, str] | None = None) -> LineProc:
        proc = LineProc(
            name, [sys.executable, *args], env={**self.env, **(env or {})}, log=self.logs / f"{name}.log"
        )
        self.helpers.append(proc)
        return proc

    def stop(self) -> None:
        """Stop everything at once: SIGTERM to all, a short grace, then SIGKILL."""
        for helper in self.helpers:
            helper.close_stdin()
        for proc in self.procs:
            proc.signal(signal.SIGTERM)
        deadline = time.monotonic() + 5
        for popen in [h.popen for h in self.helpers] + [p.popen for p in self.procs if p.popen]:
            try:
                popen.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for helper in self.helpers:
            helper.stop()
        for proc in self.procs:
            proc.stop(timeout=1)
        self.redis.stop()


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of one process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Server:
    def __init__(self, name: str, proc: Proc, port: int) -> None:
        self.name = name
        self.proc = proc
        self.port = port

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/api/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if not self.proc.alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not start; see {self.proc.log}")
            time.sleep(0.1)

    def rss_kb(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def cpu_s(self) -> float:
        return cpu_s(self.proc.pid)

    def stop(self) -> None:
        self.proc.stop()
