"""`--baseline <git rev>`: the same cases against another revision of the project, same run.

The revision is exported (`git archive`, no change to the repository or its worktrees) into a
scratch directory and runs from there with this interpreter: its own databases
(named after its ports) and ports (`--base-port` + BASELINE_PORT_SHIFT). Both stacks are up together
and every (case, connections) run alternates between them, current first on even runs and
baseline first on odd ones, so drift of the machine (other load, thermal, MariaDB's buffer
pool) falls on both alike. The report gives each side's table and the ratios per case:
throughput, p99 and µs of CPU per request per process.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from benchkit import stack
from benchkit.cli import Bench, Interrupted, _git_commit
from benchkit.plan import BenchPlan
from benchkit.report import CaseResult, describe_cpu

BASELINE_PORT_SHIFT = 300
# Cases that measure no code of the project: run once, on the current side only.
SHARED_CASES = ("floor", "floor-logged", "commit-ceiling")


def export_revision(rev: str, into: Path) -> str:
    """Extract `rev` of the repository into `into`; its full commit id."""
    commit = subprocess.run(["git", "rev-parse", "--verify", f"{rev}^{{commit}}"],
                            cwd=stack.ROOT, capture_output=True, text=True, timeout=30,
                            check=False)
    if commit.returncode != 0:
        raise stack.StackError(f"--baseline {rev}: not a revision of this repository "
                               f"({commit.stderr.strip()})")
    sha = commit.stdout.strip()
    archive = into.parent / f"{into.name}.tar"
    with archive.open("wb") as out:
        subprocess.run(["git", "archive", "--format=tar", sha], cwd=stack.ROOT, stdout=out,
                       timeout=120, check=True)
    into.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    archive.unlink()
    return sha


def _side(args: argparse.Namespace, wrk_binary: str, root: Path, out: Path,
          label: str) -> Bench:
    side_args = copy.copy(args)
    side_args.out = out / label
    if label == "baseline":
        side_args.base_port = args.base_port + BASELINE_PORT_SHIFT
    plan = BenchPlan.from_args(side_args)
    plan.root = root
    if label == "baseline":
        plan.cases = [case for case in plan.cases if case.name not in SHARED_CASES]
    return Bench(side_args, wrk_binary, plan)


def _ratio(new: float | None, old: float | None) -> str:
    return f"{new / old:.2f}" if new and old else "-"


def format_comparison(current: Sequence[CaseResult], baseline: Sequence[CaseResult]) -> str:
    """Per (case, connections): req/s, p99 and CPU µs/request, current vs baseline."""
    old = {(r.case, r.connections): r for r in baseline if r.measured}
    headers = ["case", "conns", "req/s now", "req/s base", "ratio", "p99 now", "p99 base",
               "ratio", "CPU µs/req now", "CPU µs/req base", "ratio"]
    rows = [headers]
    for r in current:
        b = old.get((r.case, r.connections))
        if not r.measured or b is None:
            continue
        rows.append([r.case, str(r.connections), f"{r.rps:,.0f}", f"{b.rps:,.0f}",
                     _ratio(r.rps, b.rps), f"{r.p99_ms:.2f}", f"{b.p99_ms:.2f}",
                     _ratio(r.p99_ms, b.p99_ms), describe_cpu(r.cpu_us),
                     describe_cpu(b.cpu_us), _ratio(r.cpu_total_us, b.cpu_total_us)])
    if len(rows) == 1:
        return "(nothing measured on both sides)"
    widths = [max(len(row[i]) for row in rows) for i in range(len(headers))]
    return "\n".join("  ".join(cell.ljust(w) if i in (0, 8, 9) else cell.rjust(w)
                               for i, (cell, w) in enumerate(zip(row, widths, strict=True)))
                     for row in rows)


def run(args: argparse.Namespace, wrk_binary: str) -> int:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out: Path = args.out or stack.ROOT / "bench-results" / f"{stamp}-vs-baseline"
    scratch = Path(tempfile.mkdtemp(prefix="bench-baseline-"))
    sides: list[Bench] = []
    started = time.time()
    try:
        sha = export_revision(args.baseline, scratch / "tree")
        current = _side(args, wrk_binary, stack.ROOT, out, "current")
        baseline = _side(args, wrk_binary, scratch / "tree", out, "baseline")
        # One token for both: the same request bytes hit both BFFs.
        baseline.plan.secret, baseline.plan.token = current.plan.secret, current.plan.token
        sides = [current, baseline]
        workers = current.plan.workers[0]
        print(f"baseline {args.baseline} = {sha[:10]} in {scratch / 'tree'}; results: {out}",
              flush=True)
        for side, label in ((current, "current"), (baseline, "baseline")):
            print(f"starting the {label} stack", flush=True)
            side.start(workers)
        index = 0
        for case in current.plan.cases:
            for connections in current.plan.connections:
                order = [current, baseline] if index % 2 == 0 else [baseline, current]
                index += 1
                for side in order:
                    if side is baseline and case.name in SHARED_CASES:
                        continue
                    print(f"[{'now ' if side is current else 'base'}]", end="", flush=True)
                    side.measure(case, connections, workers)
    except Interrupted as exc:
        print(f"interrupted ({exc}); reporting what was measured", flush=True)
    except stack.StackError as exc:
        print(f"error: {exc}", flush=True)
        return 2
    finally:
        for side in sides:
            side.services.teardown()
        shutil.rmtree(scratch, ignore_errors=True)
    if len(sides) < 2:
        return 2
    current, baseline = sides
    comparison = format_comparison(current.results, baseline.results)
    print(f"\ncurrent ({_git_commit()} + working tree) vs baseline {args.baseline}")
    print(comparison)
    out.mkdir(parents=True, exist_ok=True)
    (out / "comparison.txt").write_text(comparison + "\n", encoding="utf-8")
    (out / "comparison.json").write_text(json.dumps({
        "baseline": args.baseline,
        "elapsed_s": round(time.time() - started, 1),
        "current": [r.to_json() for r in current.results],
        "baseline_results": [r.to_json() for r in baseline.results],
    }, indent=2) + "\n", encoding="utf-8")
    print(f"written: {out / 'comparison.txt'}, {out / 'comparison.json'}")
    return 1 if any(r.status == "error" for s in sides for r in s.results) else 0
