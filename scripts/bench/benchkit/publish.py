"""The end of a run: the tables on the terminal, results.json and the chart on disk."""

from __future__ import annotations

from typing import Any

from benchkit import report
from benchkit.journal import Journal
from benchkit.plan import BenchPlan
from benchkit.report import CaseResult


def publish(plan: BenchPlan, results: list[CaseResult], memory: dict[str, list[dict[str, Any]]],
            meta: dict[str, Any], journal: Journal) -> None:
    report.fill_pct_floor(results)
    targets = report.evaluate_targets(results, memory)
    say = journal.say
    say("")
    say(report.format_table(results, show_workers=len(plan.workers) > 1))
    comparison = report.format_workers_comparison(results, plan.workers)
    if comparison:
        say("\nWORKERS comparison")
        say(comparison)
    say("\nmemory after the run (VmRSS)")
    say(report.format_memory(memory))
    say(f"\ntargets (WORKERS={report.TARGET_WORKERS}, "
        f"{report.TARGET_CONNECTIONS} connections; ratios to the floor of this run)")
    say(report.format_targets(targets))
    json_path = plan.out / "results.json"
    report.write_json(json_path, meta, results, memory, targets, journal.notes)
    chart = plan.out / "chart.png"
    title = (f"bookstore bench {meta['started']} ({meta['duration_s']}s runs, "
             f"WORKERS {','.join(map(str, plan.workers))})")
    drawn = report.write_chart(chart, results, title)
    say(f"\nwritten: {json_path}" + (f", {chart}" if drawn else ""))
    if journal.notes:
        say("notes:\n" + "\n".join(f"  - {n.splitlines()[0]}" for n in journal.notes))
