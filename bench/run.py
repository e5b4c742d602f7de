"""``make bench`` / ``make bench-quick``: the whole benchmark, bounded in time.

Phases, all on loopback, in one run:
1. publish-side figures from one worker-like process (bench/micro.py);
2. ``POST /api/coucou`` → frame through a real Celery worker (bench/rest.py), once every
   target holds its 1,000 idle sockets; then, with metrics off in the web process and a
   worker of their own, the same against ``coucou_nometrics``;
3. paced load against Coucou and the two seed-style relays, 1,000 sockets each, rate by rate,
   then 2x each one's zero-loss rate (bench/sweep.py);
4. RSS of a fresh Coucou web process per idle socket at 1,000 and 10,000 sockets, and
   pings answered on every one of them;
5. streamed output (bench/output.py): one job's ``ctx.stream()`` writer to one socket, a
   burst of 100,000 chunks and a steady 1,000 chunks/s, on a stack of its own;
6. fan-out (bench/fanout.py), on a stack of its own and its own time budget: one broadcast
   channel with 10,000 sockets (1,000 with ``--quick``) on one web process, Coucou and the
   two relays in turn. ``--no-fanout`` skips it, ``--fanout-only`` runs only it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from bench import machine, report
from bench.client import raise_nofile
from bench.stack import ROOT, LineProc, Server, Stack
from bench.sweep import bring_up, overload, socket_specs, sweep

BENCH = ROOT / "bench"


@dataclass(frozen=True)
class Config:
    name: str
    command: str
    out: Path
    rates: tuple[int, ...]
    step_s: float
    step_200_s: float
    settle_s: float  # how long a step may take to deliver after its last publish
    overload_s: float
    overload_limit_s: float
    overload_quiet_s: float
    rest_requests: int
    micro_s: float
    hold_s: float  # how long the 10,000 sockets are held (daphne pings every 20 s)
    budget_s: float
    rss_phase: bool  # a fresh web process with 1,000 then 10,000 idle sockets
    variants: tuple[str, ...]  # measured alongside (bench/targets.py)
    sockets: int = 1000
    rss_sockets: tuple[int, int] = (1000, 10_000)
    publishers: int = 2  # per target: two worker-like processes, each with its half of the users


FULL = Config(
    name="full",
    command="make bench",
    out=BENCH,
    rates=(200, 500, 1000, 1500, 2000, 2500, 3000, 3500, 4000, 4500, 5000, 6000),
    step_s=4,
    step_200_s=10,
    settle_s=3,
    overload_s=10,
    overload_limit_s=60,
    overload_quiet_s=5,
    rest_requests=200,
    micro_s=3,
    hold_s=25,
    budget_s=560,
    rss_phase=True,
    variants=("coucou_nometrics",),
)
QUICK = Config(
    name="quick",
    command="make bench-quick",
    out=BENCH / "out",
    rates=(200, 1500, 3000, 4500),
    step_s=1,
    step_200_s=2,
    settle_s=1,
    overload_s=2,
    overload_limit_s=10,
    overload_quiet_s=2,
    rest_requests=30,
    micro_s=0.5,
    hold_s=0,
    budget_s=105,
    rss_phase=False,
    variants=("coucou_nometrics",),
)


class Budget:
    """The run stops itself: phases shrink when time runs short, a watchdog ends the rest."""

    def __init__(self, seconds: float, stack: Stack) -> None:
        self.deadline = time.monotonic() + seconds
        self.timer = threading.Timer(seconds + 10, self._expire, args=(stack,))
        self.timer.daemon = True
        self.timer.start()

    def left(self) -> float:
        return self.deadline - time.monotonic()

    @staticmethod
    def _expire(stack: Stack) -> None:
        print("bench: over its time budget; stopping everything", file=sys.stderr, flush=True)
        for proc in [*stack.procs, *(h.popen for h in stack.helpers)]:
            pid = proc.pid
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        stack.redis.kill()
        os._exit(3)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def rest_phase(server: Server, token: str, cfg: Config) -> dict[str, Any]:
    from bench.rest import coucou_latency

    return asyncio.run(coucou_latency(server.port, token, requests=cfg.rest_requests))


def rss_phase(
    stack: Stack, client: LineProc, cfg: Config, users: list[tuple[int, str]], time_left: Callable[[], float]
) -> dict[str, Any]:
    """RSS of a fresh Coucou web process per idle socket, and app-level pings on every socket."""
    server = stack.web("web-rss", "config.asgi:application")
    specs = socket_specs("coucou", users)
    client.call("connect", target="warm", host="127.0.0.1", port=server.port, sockets=specs[:20])
    client.call("close", target="warm")
    time.sleep(1)
    base = server.rss_kb()
    result: dict[str, Any] = {"base_kb": base}
    done, rate = 0, 0.0
    for count in cfg.rss_sockets:
        if rate and (count - done) / rate + 15 > time_left():
            result["skipped"] = f"{count} sockets: not enough time left in the budget"
            log(f"rss @ {count} sockets skipped: {count - done} more connections would overrun the budget")
            break
        answer = client.call(
            "connect",
            timeout=600,
            target="rss",
            host="127.0.0.1",
            port=server.port,
            sockets=specs[done:count],
            concurrency=100,
        )
        rate = (count - done) / max(answer["seconds"], 0.1)
        done = count
        time.sleep(2)
        rss = server.rss_kb()
        ping = client.call("ping", timeout=60, target="rss", limit_s=20)
        result[str(count)] = {
            "connect": answer,
            "rss_kb": rss,
            "kb_per_socket": round((rss - base) / count, 1),
            "ping": ping,
        }
        log(
            f"rss @ {count} sockets: {rss} KB ({result[str(count)]['kb_per_socket']} KB/socket), "
            f"{ping['pongs']}/{ping['sent']} pongs, p99 {ping['latency_ms']['p99']} ms"
        )
    if cfg.hold_s and str(max(cfg.rss_sockets)) in result:
        time.sleep(cfg.hold_s)
        ping = client.call("ping", timeout=60, target="rss", limit_s=20)
        result["held"] = {"seconds": cfg.hold_s, "ping": ping, **client.call("stats", target="rss")}
        log(f"after holding {cfg.hold_s} s: {ping['pongs']}/{ping['sent']} pongs")
    client.call("close", timeout=60, target="rss")
    server.stop()
    return result


def run(cfg: Config) -> dict[str, Any]:
    raise_nofile()
    work = BENCH / "out" / f"work-{cfg.name}"
    shutil.rmtree(work, ignore_errors=True)
    reference = machine.reference_loop_s()
    log(f"reference loop: {reference} s")
    cpu_before = machine.busy_cpu_s()
    started = time.time()
    stack = Stack(work)
    budget = Budget(cfg.budget_s, stack)
    try:
        log(f"Redis on {stack.redis.url}; work dir {work.relative_to(ROOT)}")
        stack.python("manage.py", "migrate", "--noinput", "-v", "0")
        users = orjson.loads(
            _provision(stack, (max(cfg.rss_sockets) if cfg.rss_phase else cfg.sockets) + 1, work)
        )
        users = [(uid, token) for uid, token in users]
        log(f"{len(users)} users and tokens")
        micro = orjson.loads(stack.python("-m", "bench.micro", str(cfg.micro_s)))
        log(
            f"publish: {micro['publish'][0]['calls_per_s']}/s; progress: {micro['progress']['calls_per_s']}/s"
        )
        worker = stack.worker()
        client = stack.helper("client", "-m", "bench.client")
        names = [*report.TARGETS, *cfg.variants]
        load = bring_up(stack, client, names, users[: cfg.sockets], publishers=cfg.publishers, log=log)
        # what the later phases need: 2x runs (one per target, variants included), closing
        # the sockets, the 10,000 sockets, stopping
        reserve = (
            len(names) * (cfg.overload_s + cfg.overload_quiet_s + 2) + 8 + (150 if cfg.rss_phase else 0) + 5
        )
        # Before the load phases: one request at a time, with every target's 1,000 sockets
        # open and idle, not while a web process still drains an overload backlog.
        by_name = {t.name: t for t in load}
        rest = rest_phase(by_name["coucou"].server, users[-1][1], cfg)
        log(f"POST /api/coucou -> frame: {rest['frame_ms']}")
        rest_off = None
        if "coucou_nometrics" in by_name:
            # The job's metrics are the worker's: a worker without them for the web without them.
            worker.stop()
            stack.worker(env={"METRICS_ENABLED": "0"}, name="worker-nometrics")
            rest_off = rest_phase(by_name["coucou_nometrics"].server, users[-1][1], cfg)
            log(f"POST /api/coucou -> frame, metrics off: {rest_off['frame_ms']}")
        sweep(
            client,
            load,
            cfg.rates,
            step_s=cfg.step_s,
            step_200_s=cfg.step_200_s,
            settle_s=cfg.settle_s,
            time_left=lambda: budget.left() - reserve,
            log=log,
        )
        overload(
            client,
            load,
            seconds=cfg.overload_s,
            limit_s=cfg.overload_limit_s,
            quiet_s=cfg.overload_quiet_s,
            log=log,
        )
        targets = {t.name: t for t in load}
        for name, target in targets.items():
            client.call("close", timeout=60, target=name)
            target.server.stop()
        rss = (
            rss_phase(stack, client, cfg, users[: max(cfg.rss_sockets)], budget.left) if cfg.rss_phase else {}
        )
        rss["load_phase"] = {t.name: t.rss for t in load}
    finally:
        stack.stop()
        budget.timer.cancel()
    return report.assemble(
        cfg=cfg,
        started=started,
        seconds=time.time() - started,
        micro=micro,
        targets=targets,
        rest=rest,
        rest_off=rest_off,
        rss=rss,
        machine_info=machine.describe(cpu_before, time.time() - started, reference_at_start=reference),
    )


def _provision(stack: Stack, n: int, work: Path) -> bytes:
    path = work / "users.json"
    stack.python("-m", "bench.provision", str(n), str(path))
    return path.read_bytes()


def main(argv: list[str]) -> int:
    cfg = QUICK if "--quick" in argv else FULL
    if "--fanout-only" not in argv:
        results = run(cfg)
        # Streamed output (bench/output.py): a stack of its own, after the others have stopped.
        from bench import output

        steady_s = "5" if cfg is FULL else "2"
        results["output"] = output.main(["--chunks", "100000", "--rate", "1000", "--seconds", steady_s])
        log(f"output: {results['output']['burst']['chunks_per_s']:,} chunks/s")
        report.write(results, cfg.out)
        log(f"wrote {(cfg.out / 'results.json').relative_to(ROOT)}, RESULTS.md and latency.png")
    if "--no-fanout" not in argv:
        from dataclasses import replace

        from bench import fanout, fanout_report

        fanout_cfg = fanout.FANOUT_QUICK if cfg is QUICK else fanout.FANOUT_FULL
        command = f"python -m bench {' '.join(argv)}" if argv else cfg.command
        fanout_results = fanout.run(replace(fanout_cfg, command=command), log=log)
        fanout_report.write(fanout_results, cfg.out)
        log(f"wrote {(cfg.out / 'fanout.json').relative_to(ROOT)} and the fan-out block of RESULTS.md")
    return 0
