"""Measure a change before and after, side by side: ``python -m bench.compare A B [...]``.

Targets are names from bench/targets.py (e.g. ``coucou coucou_uvloop``, ``coucou
coucou_uvloop``). Same load as ``make bench``'s sweep (1,000 sockets each, interleaved
steps), shorter; prints one line per step and a summary, and writes
bench/out/compare.json. Options: ``--rates 1000,2000,3000 --step 3 --sockets 1000``.
"""

from __future__ import annotations

import argparse
import time

import orjson

from bench.client import raise_nofile
from bench.run import BENCH, log
from bench.stack import Stack
from bench.sweep import bring_up, sweep, zero_loss_eps
from bench.targets import SPECS


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.compare")
    parser.add_argument("targets", nargs="+", choices=sorted(SPECS))
    parser.add_argument("--rates", default="200,1000,2000,3000,4000,5000")
    parser.add_argument("--step", type=float, default=3.0)
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--publishers", type=int, default=2)
    args = parser.parse_args()
    raise_nofile()
    work = BENCH / "out" / "work-compare"
    stack = Stack.fresh(work)
    try:
        stack.python("-m", "bench.provision", str(args.sockets), str(work / "users.json"))
        users = [(uid, token) for uid, token in orjson.loads((work / "users.json").read_bytes())]
        client = stack.helper("client", "-m", "bench.client")
        targets = bring_up(stack, client, args.targets, users, publishers=args.publishers, log=log)
        rates = tuple(int(r) for r in args.rates.split(","))
        sweep(
            client,
            targets,
            rates,
            step_s=args.step,
            step_200_s=args.step,
            settle_s=2,
            time_left=lambda: 1.0,
            log=log,
        )
    finally:
        stack.stop()
    summary = {t.name: {"zero_loss_eps": zero_loss_eps(t), "steps": t.steps} for t in targets}
    for name, figures in summary.items():
        log(f"{name}: zero-loss {figures['zero_loss_eps']}/s")
    (BENCH / "out" / "compare.json").write_bytes(orjson.dumps({"at": time.time(), **summary}))


if __name__ == "__main__":
    main()
