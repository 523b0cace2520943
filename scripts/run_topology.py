"""Two replicas of every tier behind HAProxy on this machine, and fault scenarios under load.

    .venv/bin/python scripts/run_topology.py                 # start it all; Ctrl-C stops it
    .venv/bin/python scripts/run_topology.py --scenario all  # every fault scenario, then a table
    .venv/bin/python scripts/run_topology.py --scenario kill-svc-book --fault-s 5

What runs and how the faults work: scripts/topology/ (cluster.py, load.py, scenarios.py,
haproxy.cfg). Results of the long run: docs/RELIABILITY.md. Needs root (mariadbd), haproxy and
the dev dependencies (make setup).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # devkit and topology; the repository (tests.fixtures)

from topology.cluster import Topology  # noqa: E402
from topology.scenarios import HEADER, SCENARIOS, Timing, run  # noqa: E402


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", action="append", default=[],
                        help=f"'all' or one of: {', '.join(SCENARIOS)} (repeatable)")
    parser.add_argument("--fault-s", type=float, default=10.0, help="how long each fault lasts")
    parser.add_argument("--warmup-s", type=float, default=3.0)
    parser.add_argument("--recovery-s", type=float, default=8.0)
    parser.add_argument("--rate", type=float, default=30.0, help="requests per second")
    parser.add_argument("--var-dir", type=Path, default=None,
                        help="datadirs, logs, results (default: a temporary directory)")
    parser.add_argument("--json", type=Path, default=None, help="write the outcomes here")
    args = parser.parse_args(argv)
    names = list(SCENARIOS) if "all" in args.scenario else args.scenario
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)}")
    args.names = names
    return args


async def main_async(args: argparse.Namespace) -> int:
    var_dir = args.var_dir or Path(tempfile.mkdtemp(prefix="bookstore-topology-"))
    var_dir.mkdir(parents=True, exist_ok=True)
    topology = Topology(var_dir)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        print(f"starting (logs: {var_dir / 'logs'}) ...", flush=True)
        await topology.start()
        print(f"ready: Book BFF {topology.book_url}, Customer BFF {topology.customer_url}\n"
              f"TOKEN={topology.token}", flush=True)
        if not args.names:
            await stop.wait()
            return 0
        timing = Timing(warmup_s=args.warmup_s, fault_s=args.fault_s,
                        recovery_s=args.recovery_s, rate_per_s=args.rate)
        outcomes = await run(topology, args.names, timing)
        print(HEADER)
        for outcome in outcomes:
            print(outcome.row())
        if args.json:
            args.json.write_text(json.dumps([asdict(o) for o in outcomes], indent=2,
                                            default=str))
        return 0 if all(o.invariants_hold for o in outcomes) else 1
    finally:
        await topology.stop()




def main(argv: list[str] | None = None) -> int:
    return asyncio.run(main_async(parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
