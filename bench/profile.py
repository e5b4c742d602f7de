"""Where a web process spends a paced load: ``python -m bench.profile TARGET RATE [SECONDS]``.

Brings up one target (bench/targets.py) with 1,000 sockets, records its daphne process with
py-spy while the publishers offer RATE events/s, and prints the functions holding the GIL
the most (inclusive and own time). The raw py-spy output stays in bench/out/.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import orjson

from bench.client import raise_nofile
from bench.run import BENCH, log
from bench.stack import Stack
from bench.sweep import brief, bring_up
from bench.targets import SPECS


def summarize(raw: Path, top: int = 30) -> str:
    """Inclusive and own share of samples per function, from py-spy's raw (collapsed) output."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        frames = [
            frame.split(" (")[0] + " " + frame.rsplit("/", 1)[-1].rstrip(")") for frame in stack.split(";")
        ]
        total += n
        for frame in set(frames):
            inclusive[frame] += n
        own[frames[-1]] += n
    lines = [f"{total} samples", "inclusive:"]
    lines += [f"  {100 * n / total:5.1f}%  {frame}" for frame, n in inclusive.most_common(top)]
    lines += ["own:"] + [f"  {100 * n / total:5.1f}%  {frame}" for frame, n in own.most_common(top // 2)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile")
    parser.add_argument("target", choices=sorted(SPECS))
    parser.add_argument("rate", type=float)
    parser.add_argument("seconds", type=int, nargs="?", default=8)
    args = parser.parse_args()
    raise_nofile()
    work = BENCH / "out" / "work-profile"
    shutil.rmtree(work, ignore_errors=True)
    raw = BENCH / "out" / f"profile-{args.target}-{int(args.rate)}.txt"
    stack = Stack(work)
    try:
        stack.python("manage.py", "migrate", "--noinput", "-v", "0")
        stack.python("-m", "bench.provision", "1000", str(work / "users.json"))
        users = [(uid, token) for uid, token in orjson.loads((work / "users.json").read_bytes())]
        client = stack.helper("client", "-m", "bench.client")
        [target] = bring_up(stack, client, [args.target], users, publishers=2, log=log)
        py_spy = str(Path(sys.executable).parent / "py-spy")
        options = ["--gil", "--rate", "250", "--duration", str(args.seconds), "--format", "raw"]
        spy = subprocess.Popen(
            [py_spy, "record", "--pid", str(target.server.proc.pid), *options, "--output", str(raw)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        step = target.step(client, args.rate, args.seconds, limit_s=10, quiet_s=3)
        spy.wait()
    finally:
        stack.stop()
    log(f"{args.target} @ {args.rate}/s: {brief(step)}")
    print(summarize(raw))


if __name__ == "__main__":
    main()
