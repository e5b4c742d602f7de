"""py-spy on one fan-out target's web process: ``python -m bench.fanout_profile coucou 8000 [N]``.

Brings up the target (bench/targets.py ``FANOUT_SPECS``) with N sockets (1,000 by default)
on the broadcast channel, records its daphne with py-spy while the publisher offers RATE
deliveries/s, and prints the functions holding the GIL the most (bench/profile.py's summary).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from bench.client import raise_nofile
from bench.fanout import BENCH, FANOUT_QUICK, Fanout, brief, log
from bench.profile import summarize
from bench.stack import Stack
from bench.targets import FANOUT_SPECS


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.fanout_profile")
    parser.add_argument("target", choices=sorted(FANOUT_SPECS))
    parser.add_argument("rate", type=float, help="deliveries/s")
    parser.add_argument("sockets", type=int, nargs="?", default=1000)
    parser.add_argument("--seconds", type=int, default=8)
    args = parser.parse_args()
    raise_nofile()
    raw = BENCH / "out" / f"fanout-profile-{args.target}-{int(args.rate)}.txt"
    cfg = replace(FANOUT_QUICK, sockets=args.sockets)
    stack = Stack.fresh(BENCH / "out" / "work-fanout-profile")
    try:
        client = stack.helper("fanout-client", "-m", "bench.fanout_client")
        target = Fanout(args.target, stack, [client], cfg, log)
        target.connect()
        py_spy = str(Path(sys.executable).parent / "py-spy")
        options = ["--gil", "--rate", "250", "--duration", str(args.seconds), "--format", "raw"]
        spy = subprocess.Popen(
            [py_spy, "record", "--pid", str(target.server.proc.pid), *options, "--output", str(raw)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        step = target.step(args.rate, duration=args.seconds, limit_s=10, quiet_s=3)
        spy.wait()
        target.close()
    finally:
        stack.stop()
    log(f"{args.target} @ {args.rate:,.0f} deliveries/s: {brief(step)}")
    print(summarize(raw, top=40))


if __name__ == "__main__":
    main()
