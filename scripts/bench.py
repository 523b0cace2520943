"""Benchmark harness: `make bench ARGS="..."` or `python scripts/bench.py --help`.

Starts the services on MariaDB, seeds them, measures them with wrk against a trivial aiohttp
floor, and writes a table, results.json and chart.png under bench-results/<timestamp>/.
How to run and read it: docs/BENCHMARKS.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "bench"))
sys.path.insert(0, str(HERE))  # devkit

from benchkit.cli import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
