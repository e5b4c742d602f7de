"""Percentiles the same way everywhere: nearest rank on the sorted samples."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(ordered: Sequence[float], p: float) -> float:
    if not ordered:
        return float("nan")
    rank = max(0, min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1))
    return float(ordered[rank])


def percentiles(samples: Sequence[float], *, scale: float = 1.0) -> dict[str, float | int | None]:
    """p50/p99/max of ``samples`` times ``scale``, rounded for reading; None when empty."""
    if not samples:
        return {"n": 0, "p50": None, "p99": None, "max": None}
    ordered = sorted(samples)
    return {
        "n": len(ordered),
        "p50": round(percentile(ordered, 50) * scale, 3),
        "p99": round(percentile(ordered, 99) * scale, 3),
        "max": round(ordered[-1] * scale, 3),
    }
