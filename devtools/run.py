"""``make run``: the whole platform on one machine, stopped together by Ctrl-C or SIGTERM.

Starts an embedded Redis when ``REDIS_URL`` is unset, migrates, then runs web (daphne), a
Celery worker and Flower, each with its output prefixed by its name. The process list is
``platform/Procfile``; any supervisor can run those commands instead.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from devtools.procs import Proc, python_argv
from devtools.redis_server import RedisServer, free_port, port_is_free

BASE_DIR = Path(__file__).resolve().parent.parent
# Where the embedded Redis, the SQLite database and the Flower password live (git-ignored).
DATA = Path(os.environ.get("COUCOU_DATA_DIR", BASE_DIR / ".data"))
BIN = Path(sys.executable).parent


def _flower_auth() -> str:
    path = DATA / "flower-auth"
    if not path.exists():
        path.write_text(f"admin:{secrets.token_urlsafe(12)}\n")
        path.chmod(0o600)
    return path.read_text().strip()


def _pump(proc: Proc, width: int) -> None:
    assert proc.popen is not None and proc.popen.stdout is not None
    for line in proc.popen.stdout:
        sys.stdout.write(f"{proc.name:<{width}} | {line.decode(errors='replace')}")
        sys.stdout.flush()


def main() -> int:
    DATA.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    redis = None
    if not env.get("REDIS_URL"):
        port = int(env.get("COUCOU_REDIS_PORT", "6380"))
        redis = RedisServer(DATA / "redis", port if port_is_free(port) else free_port()).start()
        env["REDIS_URL"] = redis.url
        print(f"embedded Redis on {redis.url} (data in .data/redis)")
    env.setdefault("FLOWER_BASIC_AUTH", _flower_auth())
    env.setdefault("DATABASE_URL", f"sqlite:///{DATA / 'db.sqlite3'}")
    web_port = env.get("PORT", "8000")
    flower_port = env.get("FLOWER_PORT", "5555")

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())

    procs: list[Proc] = []
    try:
        subprocess.run(
            python_argv("manage.py", "migrate", "--noinput", "-v", "0"), env=env, cwd=BASE_DIR, check=True
        )
        commands = {
            "web": [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", web_port, "config.asgi:application"],
            "worker": [str(BIN / "celery"), "-A", "config", "worker", "-l", "INFO",
                       "--concurrency", env.get("WORKER_CONCURRENCY", "4")],
            "flower": [str(BIN / "celery"), "-A", "config", "flower", "--address=127.0.0.1",
                       f"--port={flower_port}"],
        }  # fmt: skip
        width = max(map(len, commands))
        for name, argv in commands.items():
            proc = Proc(name, argv, env=env, cwd=BASE_DIR).start(
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT
            )
            procs.append(proc)
            threading.Thread(target=_pump, args=(proc, width), daemon=True).start()
        user, _, password = env["FLOWER_BASIC_AUTH"].partition(":")
        print(
            f"\n  Demo page http://127.0.0.1:{web_port}/   API docs http://127.0.0.1:{web_port}/api/docs\n"
            f"  Flower    http://127.0.0.1:{flower_port}/   user {user!r} password {password!r}\n"
            "  To sign in there, first create a user (it asks for a name and a password):\n"
            "            .venv/bin/python manage.py createsuperuser\n"
            "  A token:  .venv/bin/python manage.py create_token alice --create-user\n"
            "  Ctrl-C stops everything.\n",
            flush=True,
        )
        while not stop.is_set():
            dead = [p for p in procs if not p.alive()]
            if dead:
                print(f"{dead[0].name} exited with {dead[0].popen.returncode}; stopping", flush=True)  # type: ignore[union-attr]
                return 1
            stop.wait(0.5)
        return 0
    finally:
        print("stopping…", flush=True)
        for proc in reversed(procs):
            proc.stop()
        if redis is not None:
            redis.stop()
        time.sleep(0.1)


if __name__ == "__main__":
    sys.exit(main())
