"""Scaling benchmark: Book service latency and query plans at 1k, 100k and 1M books.

    python scripts/bench_scaling.py --help

Long (the 1M step seeds a million rows): a documented script, not part of `make test`.
See docs/BENCHMARKS.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "bench"))
sys.path.insert(0, str(HERE))  # devkit

from benchkit.scaling import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
