"""Benchmark harness internals (`python scripts/bench.py`); see docs/BENCHMARKS.md."""
