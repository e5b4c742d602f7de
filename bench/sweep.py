"""Paced load against Coucou and the relays, side by side, step by step.

Each step: the target's publishers offer ``rate`` events/s for ``duration`` s, spread over
its users; the client then waits until every published seq has arrived (or until nothing
new arrives for a while) and reports what was lost and the latency of what arrived. At each
rate the targets take turns, so a blip from another process hits all of them alike.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.stack import LineProc, Server, Stack, cpu_s
from bench.targets import SPECS

P99_LIMIT_MS = 50.0
Log = Callable[[str], None]


@dataclass
class Target:
    name: str
    server: Server
    publishers: list[LineProc]
    steps: list[dict[str, Any]] = field(default_factory=list)
    done: bool = False
    failures: int = 0  # failed rates in a row
    rss: dict[str, Any] = field(default_factory=dict)  # web process RSS before/after its idle sockets

    def step(
        self, client: LineProc, rate: float, duration: float, *, limit_s: float, quiet_s: float
    ) -> dict[str, Any]:
        client.call("reset", target=self.name)
        cpu_before, started = self.server.cpu_s(), time.monotonic()
        client_before = cpu_s(client.popen.pid)
        share = rate / len(self.publishers)
        for pub in self.publishers:
            pub.send("run", rate=share, duration=duration)
        answers = [pub.receive(timeout=duration * 3 + 60) for pub in self.publishers]
        ranges: dict[str, list[int]] = {}
        for answer in answers:
            ranges.update(answer["ranges"])
        sent = sum(a["sent"] for a in answers)
        elapsed = max(a["elapsed"] for a in answers)
        waited = client.call(
            "wait", timeout=limit_s + 30, target=self.name, ranges=ranges, limit_s=limit_s, quiet_s=quiet_s
        )
        busy = self.server.cpu_s() - cpu_before
        client_busy = cpu_s(client.popen.pid) - client_before
        return {
            "rate": rate,
            "offered_eps": round(sent / elapsed, 1),
            "sent": sent,
            "delivered": waited["delivered"],
            "lost": waited["lost"],
            "latency_ms": waited["latency_ms"],
            "web_cpu_pct": round(100 * busy / (time.monotonic() - started), 1),
            "web_cpu_us_per_event": round(1e6 * busy / max(1, waited["delivered"]), 1),
            "client_cpu_pct": round(100 * client_busy / (time.monotonic() - started), 1),
            "open_sockets": waited["open"],
        }


def passed(step: dict[str, Any]) -> bool:
    p99 = step["latency_ms"]["p99"]
    return step["lost"] == 0 and p99 is not None and p99 < P99_LIMIT_MS


def zero_loss_eps(target: Target) -> float:
    good = [s["offered_eps"] for s in target.steps if s.get("phase") == "sweep" and passed(s)]
    return max(good, default=0.0)


def brief(step: dict[str, Any]) -> str:
    lat = step["latency_ms"]
    return (
        f"offered {step['offered_eps']}/s, lost {step['lost']}/{step['sent']}, "
        f"p50 {lat['p50']} p99 {lat['p99']} max {lat['max']} ms, "
        f"web cpu {step['web_cpu_pct']}% ({step['web_cpu_us_per_event']} µs/event)"
    )


def bring_up(
    stack: Stack,
    client: LineProc,
    names: list[str],
    users: list[tuple[int, str]],
    *,
    publishers: int,
    log: Log,
) -> list[Target]:
    """Start each target's web process and publishers, connect one socket per user, warm up."""
    targets = []
    for name in names:
        spec = SPECS[name]
        server = stack.web(f"web-{name}", spec.app, env=spec.env, uvloop=spec.uvloop, wait=False)
        pubs = [
            stack.helper(f"pub-{name}-{j}", "-m", "bench.load", spec.publisher) for j in range(publishers)
        ]
        targets.append(Target(name, server, pubs))
    for target in targets:
        target.server.wait_ready(timeout=60)
        for j, pub in enumerate(target.publishers):
            pub.send("init", users=[[i, uid] for i, (uid, _) in enumerate(users) if i % publishers == j])
        for pub in target.publishers:
            pub.receive(timeout=60)
    fleets = {t.name: socket_specs(SPECS[t.name].sockets, users) for t in targets}

    def connect(suffix: str, pick: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]) -> dict[str, Any]:
        return client.call(
            "connect_many",
            timeout=600,
            fleets=[
                {
                    "target": t.name + suffix,
                    "host": "127.0.0.1",
                    "port": t.server.port,
                    "sockets": pick(fleets[t.name]),
                }
                for t in targets
            ],
        )

    # The first sockets import and allocate what every later one reuses: not counted in RSS.
    connect("-warm", lambda sockets: sockets[-20:])
    for target in targets:
        client.call("close", target=target.name + "-warm")
    time.sleep(0.5)
    base = {t.name: t.server.rss_kb() for t in targets}
    answers = connect("", lambda sockets: sockets)
    time.sleep(1)
    for target in targets:
        answer, rss = answers[target.name], target.server.rss_kb()
        target.rss = {
            "sockets": answer["connected"],
            "base_kb": base[target.name],
            "rss_kb": rss,
            "kb_per_socket": round((rss - base[target.name]) / max(1, answer["connected"]), 1),
        }
        log(
            f"{target.name}: {answer['connected']} sockets in {answer['seconds']} s "
            f"({answer['failed']} failed), {target.rss['kb_per_socket']} KB RSS each"
        )
    for target in targets:
        target.step(client, 200, 1.0, limit_s=5, quiet_s=2)  # warm-up, not recorded
    # What 1,000 idle sockets cost each web process (pings, timers, Coucou's seq sweep).
    before, started = {t.name: t.server.cpu_s() for t in targets}, time.monotonic()
    time.sleep(3)
    for target in targets:
        busy = target.server.cpu_s() - before[target.name]
        target.rss["idle_cpu_pct"] = round(100 * busy / (time.monotonic() - started), 1)
    log(
        "idle web CPU with 1,000 sockets: " + ", ".join(f"{t.name} {t.rss['idle_cpu_pct']}%" for t in targets)
    )
    return targets


def socket_specs(kind: str, users: list[tuple[int, str]]) -> list[dict[str, Any]]:
    if kind == "coucou":
        return [
            {"path": "/ws/events/", "headers": {"Authorization": f"Bearer {token}"}} for _, token in users
        ]
    return [{"path": f"/ws/relay/?user={uid}"} for uid, _ in users]


def sweep(
    client: LineProc,
    targets: list[Target],
    rates: tuple[int, ...],
    *,
    step_s: float,
    step_200_s: float,
    settle_s: float,
    time_left: Callable[[], float],
    log: Log,
) -> None:
    """Raise the rate until each target fails (lost events or p99 ≥ 50 ms) at two rates in a row.

    A failed step is retried once, and a single failed rate does not end a target's sweep: on
    a shared machine a blip from another process can push one step's p99 past the limit.
    """
    for n, rate in enumerate(rates):
        if time_left() < 0:
            log("sweep cut short by the time budget")
            return
        shift = n % len(targets)
        for target in targets[shift:] + targets[:shift]:  # rotate who goes first
            if target.done:
                continue
            duration = step_200_s if rate == 200 else step_s
            step = target.step(client, rate, duration, limit_s=settle_s + 2, quiet_s=settle_s)
            if not passed(step):
                log(f"{target.name} @ {rate}/s failed once ({brief(step)}); retrying")
                step = target.step(client, rate, duration, limit_s=settle_s + 2, quiet_s=settle_s)
            step["phase"] = "sweep"
            target.steps.append(step)
            log(f"{target.name} @ {rate}/s: {brief(step)}")
            target.failures = 0 if passed(step) else target.failures + 1
            target.done = target.failures >= 2


def overload(
    client: LineProc, targets: list[Target], *, seconds: float, limit_s: float, quiet_s: float, log: Log
) -> None:
    """2x each target's own zero-loss rate; then count what never arrives."""
    for target in targets:
        rate = max(400.0, 2 * zero_loss_eps(target))
        step = target.step(client, rate, seconds, limit_s=limit_s, quiet_s=quiet_s)
        step["phase"] = "overload"
        target.steps.append(step)
        log(f"{target.name} @ 2x = {rate:.0f}/s: {brief(step)}")
