"""daphne with a garbage-collector probe: ``python -m bench.fanout_serve <daphne arguments>``.

For measuring only (bench/targets.py ``coucou_gcprobe``): every 5 s the web process logs, to
its log file, the collections of each generation since the last line and the time the
process spent in them. To try a remedy: ``BENCH_GC_THRESHOLD0`` sets the first generation's
threshold; ``BENCH_GC_FREEZE_S`` calls ``gc.freeze()`` that often (what is alive then, the
sockets' objects among them, is never scanned again), as config/asgi.py does once at start-up.
"""

from __future__ import annotations

import gc
import os
import sys
import threading
import time

_started: list[float] = [0.0]
_spent = [0.0, 0.0, 0.0]
_count = [0, 0, 0]


def _callback(phase: str, info: dict[str, int]) -> None:
    if phase == "start":
        _started[0] = time.perf_counter()
    else:
        generation = info["generation"]
        _spent[generation] += time.perf_counter() - _started[0]
        _count[generation] += 1


def _report() -> None:
    freeze_s = float(os.environ.get("BENCH_GC_FREEZE_S", 0))
    last_freeze = time.monotonic()
    while True:
        time.sleep(5)
        if freeze_s and time.monotonic() - last_freeze >= freeze_s:
            gc.freeze()
            last_freeze = time.monotonic()
        line = " ".join(f"gen{g}: {_count[g]} in {1e3 * _spent[g]:.0f} ms" for g in range(3))
        line += f"; tracked {len(gc.get_objects())}, frozen {gc.get_freeze_count()}"
        print(f"gc probe: {line}", file=sys.stderr, flush=True)
        for g in range(3):
            _count[g], _spent[g] = 0, 0.0


def main() -> None:
    gc.callbacks.append(_callback)
    if threshold := os.environ.get("BENCH_GC_THRESHOLD0"):
        gc.set_threshold(int(threshold), *gc.get_threshold()[1:])
    threading.Thread(target=_report, daemon=True).start()
    from daphne.cli import CommandLineInterface

    sys.argv[0] = "daphne"
    CommandLineInterface.entrypoint()


if __name__ == "__main__":
    main()
