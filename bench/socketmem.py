"""Where an idle socket's memory goes: ``python -m bench.socketmem [N] [--lines 30]``.

Starts Redis and one Coucou web process under tracemalloc, connects N bearer sockets (1,000
by default) from the benchmark's client, and prints what the web process allocated per
socket, by source line. RSS is not shown: tracemalloc's own snapshots move it. The RSS
figure of record is ``make bench``'s.
"""

from __future__ import annotations

import argparse
import linecache
import os
import signal
import sys
import sysconfig
import time
import tracemalloc
from pathlib import Path

import orjson

from bench.client import raise_nofile
from bench.run import BENCH, _provision
from bench.stack import Stack
from bench.sweep import socket_specs

SNAPSHOT_ENV = "BENCH_SNAPSHOT_DIR"


def serve() -> None:
    """The web process: daphne, with a snapshot written on each SIGUSR1."""
    out = Path(os.environ[SNAPSHOT_ENV])
    tracemalloc.start(12)
    taken = 0

    def snapshot(*_: object) -> None:
        nonlocal taken
        taken += 1
        tracemalloc.take_snapshot().dump(str(out / f"{taken}.snapshot"))

    signal.signal(signal.SIGUSR1, snapshot)
    from daphne.cli import CommandLineInterface

    sys.argv = ["daphne", *sys.argv[2:]]
    CommandLineInterface.entrypoint()


def measure(n: int, lines: int) -> None:
    raise_nofile()
    work = BENCH / "out" / "work-socketmem"
    stack = Stack.fresh(work)
    try:
        users = [tuple(u) for u in orjson.loads(_provision(stack, n, work))]
        client = stack.helper("client", "-m", "bench.client")
        server = stack.web(
            "web-socketmem",
            "config.asgi:application",
            env={SNAPSHOT_ENV: str(work)},
            launcher=[sys.executable, "-m", "bench.socketmem", "serve"],
        )
        specs = socket_specs("coucou", users)
        # The first sockets import and allocate what every later one reuses.
        client.call("connect", target="warm", host="127.0.0.1", port=server.port, sockets=specs[:20])
        client.call("close", target="warm")
        time.sleep(1)

        def snapshot(number: int) -> tracemalloc.Snapshot:
            os.kill(server.proc.pid, signal.SIGUSR1)
            path = work / f"{number}.snapshot"
            deadline = time.monotonic() + 120
            while True:  # written whole once it loads
                try:
                    return tracemalloc.Snapshot.load(str(path))
                except (OSError, EOFError, ValueError):
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.5)

        before = snapshot(1)
        answer = client.call(
            "connect",
            timeout=600,
            target="idle",
            host="127.0.0.1",
            port=server.port,
            sockets=specs,
            concurrency=50,
        )
        time.sleep(2)
        after = snapshot(2)
        report(before, after, n - answer.get("failed", 0), lines)
    finally:
        stack.stop()


def report(before: tracemalloc.Snapshot, after: tracemalloc.Snapshot, n: int, lines: int) -> None:
    stats = after.compare_to(before, "lineno")
    traced = sum(stat.size_diff for stat in stats) / n
    print(f"{n} sockets: {traced / 1024:.1f} KB of Python objects per socket")
    print(f"{'bytes':>7} {'blocks':>6}  where (innermost frame)")
    paths = sysconfig.get_paths()
    for stat in stats[:lines]:
        frame = stat.traceback[0]
        where = frame.filename.replace(paths["purelib"] + "/", "").replace(paths["stdlib"] + "/", "stdlib/")
        code = linecache.getline(frame.filename, frame.lineno).strip()[:60]
        print(f"{stat.size_diff / n:7.0f} {stat.count_diff / n:6.1f}  {where}:{frame.lineno}  {code}")


def main() -> None:
    if sys.argv[1:2] == ["serve"]:
        serve()
        return
    parser = argparse.ArgumentParser(prog="python -m bench.socketmem")
    parser.add_argument("sockets", nargs="?", type=int, default=1000)
    parser.add_argument("--lines", type=int, default=30)
    args = parser.parse_args()
    measure(args.sockets, args.lines)


if __name__ == "__main__":
    main()
