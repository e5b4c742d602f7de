"""What the benchmark ran on, and how much of the machine other processes used meanwhile."""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path
from typing import Any


def _own_cpu_s() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def busy_cpu_s() -> tuple[float, float]:
    """(CPU seconds the whole machine was busy since boot, CPU seconds of this process and its
    reaped children)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK"), _own_cpu_s()


def reference_loop_s() -> float:
    """Seconds this process takes for a fixed pure-Python loop (dicts, strings, small objects),
    best of three: how fast the machine runs Python right now. This VM's speed moves by up to
    half from one hour to the next with the guest idle, and every figure with it."""

    class Item:
        def __init__(self, x: int) -> None:
            self.x = x

        def next(self) -> int:
            return self.x + 1

    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(10):
            table = {str(i): [i, (i, str(i))] for i in range(20_000)}
            sum(len(k) + v[0] for k, v in table.items())
            sum(Item(i).next() for i in range(20_000))
        best = min(best, time.perf_counter() - started)
    return round(best, 3)


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / 1024 / 1024, 1)
    return 0.0


def describe(before: tuple[float, float], wall_s: float, *, reference_at_start: float) -> dict[str, Any]:
    """Call after every child has been reaped, so their CPU time is counted as ours."""
    machine_now, own_now = busy_cpu_s()
    total = machine_now - before[0]
    ours = own_now - before[1]
    others = max(0.0, total - ours)
    cores = os.cpu_count() or 1
    return {
        "nproc": cores,
        "cpu_model": _cpu_model(),
        "memory_gib": _memory_gib(),
        "python": sys.version.split()[0],
        "kernel": platform.release(),
        "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
        "cpu_s_ours": round(ours, 1),
        "cpu_s_other_processes": round(others, 1),
        "other_processes_pct_of_machine": round(100 * others / (wall_s * cores), 1) if wall_s else 0.0,
        "shared": others > 0.05 * wall_s * cores,
        "reference_loop_s": {"start": reference_at_start, "end": reference_loop_s()},
    }
