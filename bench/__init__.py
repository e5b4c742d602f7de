"""The benchmark harness: ``make bench`` / ``make bench-quick`` (see bench/RESULTS.md)."""
