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

from bench.stack import LineProc, Server, Stack
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
    failed_at: float | None = None

    def step(self, client: LineProc, rate: float, duration: float, *, limit_s: float, quiet_s: float) -> dict[str, Any]:
        client.call("reset", target=self.name)
        cpu_before, started = self.server.cpu_s(), time.monotonic()
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
        return {
            "rate": rate,
            "offered_eps": round(sent / elapsed, 1),
            "sent": sent,
            "delivered": waited["delivered"],
            "lost": waited["lost"],
            "latency_ms": waited["latency_ms"],
            "web_cpu_pct": round(100 * busy / (time.monotonic() - started), 1),
            "web_cpu_us_per_event": round(1e6 * busy / max(1, waited["delivered"]), 1),
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


def bring_up(stack: Stack, client: LineProc, names: list[str], users: list[tuple[int, str]], *,
             publishers: int, log: Log) -> list[Target]:  # fmt: skip
    """Start each target's web process and publishers, connect one socket per user, warm up."""
    targets = []
    for name in names:
        spec = SPECS[name]
        server = stack.web(f"web-{name}", spec.app, env=spec.env, uvloop=spec.uvloop, wait=False)
        pubs = [stack.helper(f"pub-{name}-{j}", "-m", "bench.load", spec.publisher) for j in range(publishers)]
        targets.append(Target(name, server, pubs))
    for target in targets:
        target.server.wait_ready(timeout=60)
        for j, pub in enumerate(target.publishers):
            pub.send("init", users=[[i, uid] for i, (uid, _) in enumerate(users) if i % publishers == j])
        for pub in target.publishers:
            pub.receive(timeout=60)
    for target in targets:
        sockets = socket_specs(SPECS[target.name].sockets, users)
        answer = client.call("connect", timeout=300, target=target.name, host="127.0.0.1",
                             port=target.server.port, sockets=sockets, concurrency=50)  # fmt: skip
        log(f"{target.name}: {answer['connected']} sockets in {answer['seconds']} s ({answer['failed']} failed)")
        target.step(client, 200, 1.0, limit_s=5, quiet_s=2)  # warm-up, not recorded
    return targets


def socket_specs(kind: str, users: list[tuple[int, str]]) -> list[dict[str, Any]]:
    if kind == "coucou":
        return [{"path": "/ws/events/", "headers": {"Authorization": f"Bearer {token}"}} for _, token in users]
    return [{"path": f"/ws/relay/?user={uid}"} for uid, _ in users]


def sweep(client: LineProc, targets: list[Target], rates: tuple[int, ...], *, step_s: float, step_200_s: float,
          settle_s: float, time_left: Callable[[], float], log: Log) -> None:  # fmt: skip
    """Raise the rate until each target fails (lost events or p99 ≥ 50 ms), plus one step
    past its first failure for the plot. A failed step is retried once (a blip from another
    process on a shared machine should not end a target's sweep)."""
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
            if not passed(step) and target.failed_at is None:
                log(f"{target.name} @ {rate}/s failed once ({brief(step)}); retrying")
                step = target.step(client, rate, duration, limit_s=settle_s + 2, quiet_s=settle_s)
            step["phase"] = "sweep"
            target.steps.append(step)
            log(f"{target.name} @ {rate}/s: {brief(step)}")
            if not passed(step):
                if target.failed_at is not None:
                    target.done = True
                else:
                    target.failed_at = rate


def overload(client: LineProc, targets: list[Target], *, seconds: float, limit_s: float, quiet_s: float,
             log: Log) -> None:  # fmt: skip
    """2× each target's own zero-loss rate; then count what never arrives."""
    for target in targets:
        rate = max(400.0, 2 * zero_loss_eps(target))
        step = target.step(client, rate, seconds, limit_s=limit_s, quiet_s=quiet_s)
        step["phase"] = "overload"
        target.steps.append(step)
        log(f"{target.name} @ 2x = {rate:.0f}/s: {brief(step)}")
