"""Fan-out: one broadcast channel, thousands of sockets on ONE web process.

``python -m bench.fanout [--quick] [--sockets N] [--clients K] [TARGET ...]`` (and the last
phase of ``make bench``). For each target in turn (bench/targets.py ``FANOUT_SPECS``; by
default Coucou and the seed-style relay on both channels-redis layers):

1. a fresh daphne, its N sockets (``bench/fanout_client.py``, spread over K client
   processes): Coucou's are anonymous and subscribe to ``bench:all`` (a public namespace of
   ``bench/fanout_realtime.py``); the relay's join the group ``bench.all`` on connect;
2. idle: one broadcast at a time, each waited for on every socket: the latency from just
   before ``publish_to`` / ``group_send`` to the frame's arrival at the LAST socket;
3. a paced sweep, in deliveries/s (broadcasts/s x sockets), until two rates in a row fail;
   a rate passes when every socket received every broadcast and the p99 of the last socket's
   latency stayed within twice the idle p99 plus 100 ms, and the web process stayed below
   95 % of a core (it kept up); deliveries that arrive after a step's wait are counted
   apart, as late, from those that never arrive;
4. twice the target's own zero-loss rate: what never arrives, after waiting for it.

Targets run one after the other, not interleaved as in the 1,000-socket sweep: each holds
10,000 sockets, and a second target's idle sockets would cost the first one's CPU.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench import machine
from bench.client import raise_nofile
from bench.stack import ROOT, LineProc, Server, Stack, cpu_s
from bench.stats import percentiles
from bench.targets import FANOUT_SPECS

BENCH = ROOT / "bench"
# A step passes when every delivery arrived, the last socket's p99 stayed within twice the
# target's own idle p99 plus 100 ms (at most one broadcast queued ahead of another), and the
# web process had headroom (below 95 % of a core over the step and its wait). With 10,000
# sockets a broadcast takes a web process here seconds, so a step of a few broadcasts cannot
# show a growing backlog in its latency alone; a busy core can.
P99_IDLE_FACTOR = 2.0
P99_SLACK_MS = 100.0
WEB_CPU_MAX_PCT = 95.0
WEB_BUSY_FRACTION = 0.5  # of a core: above it the web process still has work (see Fanout._wait)
Log = Callable[[str], None]


@dataclass(frozen=True)
class FanoutConfig:
    name: str
    command: str
    sockets: int
    clients: int  # client processes holding the sockets
    rates: tuple[int, ...]  # offered deliveries/s (broadcasts/s x sockets)
    step_s: float
    min_broadcasts: int  # per sweep step, however low the rate
    settle_s: float  # nothing new for this long: the step is over
    idle_broadcasts: int
    idle_limit_s: float  # the idle phase stops after this long (with at least 8 broadcasts)
    overload_s: float
    overload_limit_s: float
    overload_quiet_s: float
    budget_s: float
    targets: tuple[str, ...] = ("coucou", "relay_pubsub", "relay_core")


FANOUT_FULL = FanoutConfig(
    name="full",
    command="python -m bench.fanout",
    sockets=10_000,
    clients=2,
    rates=(1_000, 2_000, 3_000, 4_000, 6_000, 8_000, 12_000, 16_000),
    step_s=5,
    min_broadcasts=3,
    settle_s=3,
    idle_broadcasts=30,
    idle_limit_s=40,
    overload_s=8,
    overload_limit_s=60,
    overload_quiet_s=5,
    budget_s=900,
)
FANOUT_QUICK = FanoutConfig(
    name="quick",
    command="python -m bench.fanout --quick",
    sockets=1_000,
    clients=1,
    rates=(2_000, 4_000, 6_000, 10_000, 15_000, 20_000, 30_000, 40_000),
    step_s=2,
    min_broadcasts=5,
    settle_s=1.5,
    idle_broadcasts=20,
    idle_limit_s=20,
    overload_s=2,
    overload_limit_s=15,
    overload_quiet_s=2,
    budget_s=200,
)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] fanout: {message}", flush=True)


class Fanout:
    """One target: its web process, its publisher and its share of every client process."""

    def __init__(self, name: str, stack: Stack, clients: list[LineProc], cfg: FanoutConfig, log: Log) -> None:
        self.name = name
        self.spec = FANOUT_SPECS[name]
        self.cfg = cfg
        self.clients = clients
        self.log = log
        launcher = [sys.executable, "-m", *self.spec.launcher] if self.spec.launcher else None
        self.server: Server = stack.web(
            f"fanout-web-{name}",
            self.spec.app,
            env=self.spec.env,
            uvloop=self.spec.uvloop,
            wait=False,
            launcher=launcher,
        )
        self.publisher = stack.helper(f"fanout-pub-{name}", "-m", "bench.fanout_load", self.spec.publisher)
        self.sockets = 0
        self.limit_ms = P99_SLACK_MS
        self.figures: dict[str, Any] = {"name": name}

    # --- the sockets ------------------------------------------------------------------------
    def connect(self) -> None:
        self.server.wait_ready(timeout=60)
        base = self.server.rss_kb()
        started = time.monotonic()
        shares = _split(self.cfg.sockets, len(self.clients))
        for client, count in zip(self.clients, shares, strict=True):
            client.send(
                "connect",
                target=self.name,
                host="127.0.0.1",
                port=self.server.port,
                path=self.spec.path,
                count=count,
                subscribe=self.spec.subscribe,
                concurrency=max(10, 100 // len(self.clients)),
            )
        answers = [c.receive(timeout=900) for c in self.clients]
        seconds = time.monotonic() - started
        self.sockets = sum(a["connected"] for a in answers)
        time.sleep(1)
        rss = self.server.rss_kb()
        errors: Counter[str] = Counter()
        for answer in answers:
            errors.update(answer["errors"])
        self.figures["connect"] = {
            "sockets": self.sockets,
            "failed": sum(a["failed"] for a in answers),
            "errors": dict(errors),
            "seconds": round(seconds, 1),
            "rss_kb": rss,
            "kb_per_socket": round((rss - base) / max(1, self.sockets), 1),
        }
        self.log(
            f"{self.name}: {self.sockets} sockets in {seconds:.1f} s "
            f"({self.figures['connect']['failed']} failed {dict(errors)}), "
            f"{self.figures['connect']['kb_per_socket']} KB RSS each"
        )
        before, t0 = self.server.cpu_s(), time.monotonic()
        time.sleep(3)
        busy = self.server.cpu_s() - before
        self.figures["idle_cpu_pct"] = round(100 * busy / (time.monotonic() - t0), 1)

    def close(self) -> None:
        for client in self.clients:
            client.send("close", target=self.name)
        for client in self.clients:
            client.receive(timeout=60)
        self.server.stop()
        self.publisher.stop()

    # --- measuring --------------------------------------------------------------------------
    def _busy(self, seconds: float = 0.5) -> bool:
        """Whether the web process is still working (a backlog, or a long garbage collection)."""
        before, started = self.server.cpu_s(), time.monotonic()
        time.sleep(seconds)
        return (self.server.cpu_s() - before) / (time.monotonic() - started) > WEB_BUSY_FRACTION

    def _ask_wait(self, first: int, last: int, limit_s: float, quiet_s: float) -> list[dict[str, Any]]:
        for client in self.clients:
            client.send("wait", target=self.name, first=first, last=last, limit_s=limit_s, quiet_s=quiet_s)
        return [c.receive(timeout=limit_s + 60) for c in self.clients]

    def _wait(self, first: int, last: int, *, limit_s: float, quiet_s: float) -> dict[str, Any]:
        # Silence alone does not end the wait while the web process is busy: with 10,000
        # sockets one full garbage collection can hold every frame for seconds.
        deadline = time.monotonic() + limit_s
        while True:
            answers = self._ask_wait(first, last, max(0.0, deadline - time.monotonic()), quiet_s)
            complete = sum(a["delivered"] for a in answers) >= sum(a["expected"] for a in answers)
            if complete or time.monotonic() >= deadline or not self._busy():
                break
        slowest: dict[str, int | None] = {}
        done: dict[str, bool] = {}
        hist: Counter[int] = Counter()
        other: Counter[str] = Counter()
        for answer in answers:
            for seq, ns in answer["slowest_ns"].items():
                mine = slowest.get(seq)
                slowest[seq] = ns if mine is None else (mine if ns is None else max(mine, ns))
            for seq, ok in answer["complete"].items():
                done[seq] = done.get(seq, True) and ok
            hist.update({int(ms): n for ms, n in answer["hist_ms"].items()})
            other.update(answer["other_frames"])
        return {
            "expected": sum(a["expected"] for a in answers),
            "delivered": sum(a["delivered"] for a in answers),
            "slowest_ms": [ns / 1e6 for ns in slowest.values() if ns is not None],
            "incomplete": sum(not ok for ok in done.values()),
            "hist": hist,
            "duplicates": sum(a["duplicates"] for a in answers),
            "open": sum(a["open"] for a in answers),
            "other_frames": dict(other),
        }

    def _reset(self) -> None:
        for client in self.clients:
            client.send("reset", target=self.name)
        for client in self.clients:
            client.receive()

    def _cpu(self) -> tuple[float, float, float]:
        return self.server.cpu_s(), sum(cpu_s(c.popen.pid) for c in self.clients), time.monotonic()

    def _costs(self, before: tuple[float, float, float], delivered: int) -> dict[str, float]:
        web, client, t = self._cpu()
        wall = t - before[2]
        web, client = web - before[0], client - before[1]
        return {
            "web_cpu_pct": round(100 * web / wall, 1),
            "web_cpu_us_per_delivery": round(1e6 * web / max(1, delivered), 2),
            "client_cpu_pct": round(100 * client / wall, 1),  # all client processes, of one core
            "client_cpu_us_per_delivery": round(1e6 * client / max(1, delivered), 2),
        }

    def idle(self, count: int, limit_s: float, *, warmup: int = 2, at_least: int = 8) -> None:
        """One broadcast at a time, each until every socket has it; then the next."""
        slowest: list[float] = []
        hist: Counter[int] = Counter()
        lost = delivered = expected = incomplete = done = 0
        before = self._cpu()
        end = time.monotonic() + limit_s
        for k in range(warmup + count):
            if k == warmup:
                slowest, hist, before = [], Counter(), self._cpu()
                lost = delivered = expected = incomplete = 0
                end = time.monotonic() + limit_s
            elif k >= warmup + at_least and time.monotonic() > end:
                break
            self._reset()
            seq = self.publisher.call("one")["seq"]
            got = self._wait(seq, seq, limit_s=30, quiet_s=5)
            done += k >= warmup
            slowest += got["slowest_ms"]
            hist.update(got["hist"])
            delivered += got["delivered"]
            expected += got["expected"]
            lost += got["expected"] - got["delivered"]
            incomplete += got["incomplete"]
            time.sleep(0.05)
        self.figures["idle"] = {
            "broadcasts": done,
            "expected": expected,
            "delivered": delivered,
            "lost": lost,
            "incomplete_broadcasts": incomplete,
            "last_socket_ms": percentiles(slowest),
            "delivery_ms": hist_percentiles(hist),
            **self._costs(before, delivered),
        }
        lat = self.figures["idle"]["last_socket_ms"]
        self.limit_ms = P99_IDLE_FACTOR * (lat["p99"] or 0) + P99_SLACK_MS
        self.figures["p99_limit_ms"] = round(self.limit_ms, 1)
        self.log(
            f"{self.name} idle, {done} broadcasts to {self.sockets} sockets: last socket p50 {lat['p50']} "
            f"p99 {lat['p99']} max {lat['max']} ms, lost {lost}, "
            f"web {self.figures['idle']['web_cpu_us_per_delivery']} µs/delivery"
        )

    def step(
        self, dps: float, *, duration: float, limit_s: float, quiet_s: float, broadcasts: int = 0
    ) -> dict[str, Any]:
        """Offer ``dps`` deliveries/s (broadcasts/s x sockets) for ``duration`` s, and at
        least ``broadcasts`` (``min_broadcasts`` by default) broadcasts."""
        bps = dps / max(1, self.sockets)
        duration = max(duration, (broadcasts or self.cfg.min_broadcasts) / bps)
        self._reset()
        before = self._cpu()
        sent = self.publisher.call("run", timeout=duration * 3 + 60, rate=bps, duration=duration)
        got = self._wait(sent["first"], sent["last"], limit_s=limit_s, quiet_s=quiet_s)
        return {
            "rate_dps": dps,
            "broadcasts_per_s": round(bps, 3),
            "offered_dps": round(sent["sent"] * self.sockets / sent["elapsed"]),
            "broadcasts": sent["sent"],
            "seqs": [sent["first"], sent["last"]],
            "expected": got["expected"],
            "delivered": got["delivered"],
            "lost": got["expected"] - got["delivered"],
            "incomplete_broadcasts": got["incomplete"],
            "last_socket_ms": percentiles(got["slowest_ms"]),
            "delivery_ms": hist_percentiles(got["hist"]),
            "publisher_cpu_ms_per_broadcast": sent["cpu_ms_per_broadcast"],
            "open_sockets": got["open"],
            "duplicates": got["duplicates"],
            "other_frames": got["other_frames"],
            **self._costs(before, got["delivered"]),
        }

    def sweep(self, time_left: Callable[[], float]) -> None:
        steps: list[dict[str, Any]] = []
        failures = 0
        cfg = self.cfg
        for dps in cfg.rates:
            if time_left() < 0:
                self.log(f"{self.name}: sweep cut short by the time budget")
                break
            step = self._sweep_step(dps)
            if not passed(step, self.limit_ms):
                self.log(f"{self.name} @ {dps:,}/s failed once ({brief(step)}); retrying")
                step = self._sweep_step(dps)
            steps.append(step)
            self.log(f"{self.name} @ {dps:,} deliveries/s: {brief(step)}")
            failures = 0 if passed(step, self.limit_ms) else failures + 1
            if failures >= 2:
                break
        self.figures["steps"] = steps
        self.figures["zero_loss_dps"] = zero_loss_dps(steps, self.limit_ms)

    def _sweep_step(self, dps: float) -> dict[str, Any]:
        cfg = self.cfg
        limit_s = cfg.settle_s + 3 + self.limit_ms / 1e3
        step = self.step(dps, duration=cfg.step_s, limit_s=limit_s, quiet_s=cfg.settle_s)
        if step["lost"]:
            # What is still on its way would load the next step; and it tells late from lost.
            delivered = self._drain(*step["seqs"])
            step["late"] = delivered - step["delivered"]
            step["never"] = step["expected"] - delivered
        return step

    def _drain(self, first: int = 0, last: int = -1, quiet_s: float = 3.0, limit_s: float = 120.0) -> int:
        """Until no frame came for ``quiet_s`` and the web process is idle; the deliveries of
        seqs ``first``..``last`` that arrived in all."""
        started = time.monotonic()
        while True:
            span = {"first": first, "last": last}
            for client in self.clients:
                client.send("drain", target=self.name, quiet_s=quiet_s, limit_s=limit_s, **span)
            answers = [c.receive(timeout=limit_s + 30) for c in self.clients]
            if time.monotonic() - started > limit_s or not self._busy():
                break
        waited = time.monotonic() - started
        delivered = sum(a["delivered"] for a in answers)
        got = f" ({delivered:,} of the step's deliveries in all)" if first <= last else ""
        self.log(f"{self.name}: drained for {waited:.1f} s{got}")
        return delivered

    def overload(self) -> None:
        cfg = self.cfg
        self._drain()
        dps = max(2 * self.figures["zero_loss_dps"], cfg.rates[0])
        step = self.step(
            dps,
            duration=cfg.overload_s,
            limit_s=cfg.overload_limit_s,
            quiet_s=cfg.overload_quiet_s,
            broadcasts=5,
        )
        self.figures["overload"] = step
        self.figures["lost_at_2x"] = step["lost"]
        self.log(f"{self.name} @ 2x = {dps:,.0f} deliveries/s: {brief(step)}")


def _split(n: int, parts: int) -> list[int]:
    return [n // parts + (1 if i < n % parts else 0) for i in range(parts)]


def hist_percentiles(hist: Counter[int]) -> dict[str, float | int | None]:
    """p50/p99/max of the deliveries' latency, from whole-ms buckets (each read as its middle)."""
    total = sum(hist.values())
    if not total:
        return {"n": 0, "p50": None, "p99": None, "max": None}
    out: dict[str, float | int | None] = {"n": total}
    ordered = sorted(hist.items())
    for name, p in (("p50", 50), ("p99", 99)):
        rank, seen = max(1, -(-total * p // 100)), 0
        for ms, n in ordered:
            seen += n
            if seen >= rank:
                out[name] = ms + 0.5
                break
    out["max"] = ordered[-1][0] + 0.5
    return out


def passed(step: dict[str, Any], limit_ms: float) -> bool:
    p99 = step["last_socket_ms"]["p99"]
    return step["lost"] == 0 and p99 is not None and p99 < limit_ms and step["web_cpu_pct"] < WEB_CPU_MAX_PCT


def zero_loss_dps(steps: list[dict[str, Any]], limit_ms: float) -> float:
    return max((s["offered_dps"] for s in steps if passed(s, limit_ms)), default=0)


def brief(step: dict[str, Any]) -> str:
    lat = step["last_socket_ms"]
    late = f" ({step['late']:,} late, {step['never']:,} never)" if "late" in step else ""
    return (
        f"offered {step['offered_dps']:,}/s ({step['broadcasts']} broadcasts), "
        f"lost {step['lost']:,}/{step['expected']:,}{late}, "
        f"last socket p50 {lat['p50']} p99 {lat['p99']} ms, "
        f"web cpu {step['web_cpu_pct']}% ({step['web_cpu_us_per_delivery']} µs/delivery), "
        f"client cpu {step['client_cpu_pct']}%"
    )


def run(cfg: FanoutConfig, targets: tuple[str, ...] | None = None, *, log: Log = log) -> dict[str, Any]:
    """Every target in turn; the figures of each, with the machine and the command."""
    raise_nofile()
    work = BENCH / "out" / f"work-fanout-{cfg.name}"
    shutil.rmtree(work, ignore_errors=True)
    reference = machine.reference_loop_s()
    cpu_before = machine.busy_cpu_s()
    started = time.time()
    deadline = time.monotonic() + cfg.budget_s
    stack = Stack.fresh(work)
    watchdog = threading.Timer(cfg.budget_s + 120, _expire, args=(stack,))
    watchdog.daemon = True
    watchdog.start()
    names = targets or cfg.targets
    results: dict[str, Any] = {}
    try:
        log(f"Redis on {stack.redis.url}; {cfg.sockets} sockets per target, {cfg.clients} client processes")
        clients = [
            stack.helper(f"fanout-client-{i}", "-m", "bench.fanout_client") for i in range(cfg.clients)
        ]
        for n, name in enumerate(names):
            left = len(names) - n
            target = Fanout(name, stack, clients, cfg, log)
            try:
                target.connect()
                target.idle(cfg.idle_broadcasts, cfg.idle_limit_s)
                # what the rest needs: this target's 2x phase, the later targets' share
                reserve = cfg.overload_s + cfg.overload_limit_s / 3 + 10
                share = (deadline - time.monotonic()) / left
                end = time.monotonic() + share - reserve
                target.sweep(lambda end=end: end - time.monotonic())
                target.overload()
            finally:
                target.close()
            results[name] = target.figures
    finally:
        stack.stop()
        watchdog.cancel()
    return {
        "targets": results,
        "sockets": cfg.sockets,
        "clients": cfg.clients,
        "pass_rule": {
            "p99_idle_factor": P99_IDLE_FACTOR,
            "p99_slack_ms": P99_SLACK_MS,
            "web_cpu_max_pct": WEB_CPU_MAX_PCT,
        },
        "machine": machine.describe(cpu_before, time.time() - started, reference_at_start=reference),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(started)),
        "command": cfg.command,
        "mode": cfg.name,
        "duration_s": round(time.time() - started, 1),
    }


def _expire(stack: Stack) -> None:
    print("bench.fanout: over its time budget; stopping everything", file=sys.stderr, flush=True)
    stack.stop()


def main(argv: list[str]) -> int:
    from bench import fanout_report

    parser = argparse.ArgumentParser(prog="python -m bench.fanout")
    parser.add_argument("targets", nargs="*", help=f"of {', '.join(sorted(FANOUT_SPECS))}")
    parser.add_argument("--quick", action="store_true", help="1,000 sockets, short steps")
    parser.add_argument("--sockets", type=int)
    parser.add_argument("--clients", type=int)
    parser.add_argument("--idle", type=int, help="broadcasts in the idle phase")
    parser.add_argument("--rates", help="offered deliveries/s, comma-separated")
    parser.add_argument("--budget", type=float, help="seconds for the whole run")
    parser.add_argument("--no-write", action="store_true", help="print only; RESULTS.md untouched")
    args = parser.parse_args(argv)
    if unknown := set(args.targets) - set(FANOUT_SPECS):
        parser.error(f"unknown targets {sorted(unknown)}; choose from {sorted(FANOUT_SPECS)}")
    cfg = FANOUT_QUICK if args.quick else FANOUT_FULL
    changes: dict[str, Any] = {}
    if args.sockets:
        changes["sockets"] = args.sockets
    if args.clients:
        changes["clients"] = args.clients
    if args.idle:
        changes["idle_broadcasts"] = args.idle
    if args.rates:
        changes["rates"] = tuple(int(r) for r in args.rates.split(","))
    if args.budget:
        changes["budget_s"] = args.budget
    if argv:
        changes["command"] = "python -m bench.fanout " + " ".join(argv)
    cfg = FanoutConfig(**{**cfg.__dict__, **changes})
    results = run(cfg, tuple(args.targets) or None)
    # bench/: a full run at its 10,000 sockets; anything smaller goes to bench/out/
    out = BENCH if cfg.name == "full" and cfg.sockets == FANOUT_FULL.sockets else BENCH / "out"
    if args.no_write:
        out = BENCH / "out" / "fanout-scratch"
    fanout_report.write(results, out)
    print(fanout_report.markdown(results))
    where = out.relative_to(ROOT)
    log(f"wrote {where}/fanout.json and the fan-out block of {where}/RESULTS.md")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
