"""Fuzz the REST API: schemathesis against /api/openapi.json on a real daphne, with a token.

``python -m tests.fuzz.run_schemathesis [--max-examples N]``; run by ``.ci/run``. It fails on
any server error (5xx), and on fewer generated test cases than ``--min-cases``.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.live.harness import BIN, Stack


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--max-examples", type=int, default=150)
    parser.add_argument("--min-cases", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="coucou-fuzz-") as tmp:
        # No worker: fuzzed jobs stay queued. Limits are raised so that the fuzzer explores
        # the API instead of its 429s (the limits have their own live tests).
        stack = Stack(
            Path(tmp),
            API_ENQUEUE_RATE="100000/m",
            JOBS_MAX_ACTIVE_PER_USER="100000",
            CHAT_MESSAGE_RATE="100000/m",
        )
        try:
            stack.start_web()
            token = stack.token("fuzzer")
            run = subprocess.run(
                [
                    str(BIN / "schemathesis"), "run", f"{stack.base_url}/api/openapi.json",
                    "--header", f"Authorization: Bearer {token}",
                    "--checks", "not_a_server_error",
                    "--max-examples", str(args.max_examples),
                    "--generation-deterministic",
                    "--no-color",
                ],
                capture_output=True, text=True, timeout=900,
            )  # fmt: skip
        finally:
            stack.stop()
    if run.returncode != 0:
        print(run.stdout[-6000:], run.stderr[-3000:], sep="\n")
    else:  # schemathesis's summary, without its pytest-like "=== ... in 32s ===" rulers
        print("\n".join(line for line in run.stdout[-3000:].splitlines() if not line.startswith("===")))
    cases = sum(int(n) for n in re.findall(r"(\d+) generated", run.stdout)) or _total_cases(run.stdout)
    print(f"schemathesis: {cases} test cases, exit {run.returncode}")
    if run.returncode != 0:
        return run.returncode
    if cases < args.min_cases:
        print(f"too few test cases: {cases} < {args.min_cases}", file=sys.stderr)
        return 1
    return 0


def _total_cases(output: str) -> int:
    match = re.search(r"Test cases:\s*\n?\s*(\d+)", output) or re.search(r"(\d+) test cases", output)
    return int(match.group(1)) if match else 0


if __name__ == "__main__":
    sys.exit(main())
