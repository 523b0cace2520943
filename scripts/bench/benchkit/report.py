"""Results: the terminal table, targets, workers comparison, JSON file and PNG chart."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# Process order in the CPU column: the one the request reaches first.
CPU_ORDER = ("floor", "floor_logged", "bff_book", "bff_book_traced", "bff_customer", "svc_book",
             "svc_book_traced", "svc_customer", "otlp_sink")
TARGET_CONNECTIONS = 16
TARGET_WORKERS = 1
RSS_LIMIT_MB = 120.0


@dataclass
class RowsCheck:
    """After a write case: did the table grow by exactly the number of 201s?"""

    table: str
    before: int
    after: int
    created: int
    unanswered: int = 0

    @property
    def delta(self) -> int:
        return self.after - self.before

    @property
    def ok(self) -> bool:
        return self.delta == self.created

    def describe(self) -> str:
        verdict = "OK" if self.ok else "MISMATCH"
        text = f"{self.table}: +{self.delta} rows, {self.created} x 201 -> {verdict}"
        if self.unanswered:
            text += f" ({self.unanswered} requests unanswered when wrk stopped)"
        return text


@dataclass
class CaseResult:
    case: str
    title: str
    connections: int
    workers: int | None  # None: the case does not depend on the services' WORKERS
    status: str = "ok"  # ok | skipped | error
    note: str = ""
    requests: int = 0
    duration_s: float = 0.0
    rps: float = 0.0
    p50_ms: float = 0.0
    p90_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    non_2xx: int = 0
    socket_errors: int = 0
    socket_error_detail: dict[str, int] = field(default_factory=dict)
    statuses: dict[int, int] | None = None
    rows: RowsCheck | None = None
    pct_floor: float | None = None
    # µs of CPU per request in each process the case runs through (benchkit.cpu).
    cpu_us: dict[str, float] = field(default_factory=dict)

    @property
    def cpu_total_us(self) -> float | None:
        return sum(self.cpu_us.values()) if self.cpu_us else None

    @property
    def measured(self) -> bool:
        return self.status == "ok"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        if self.statuses is not None:
            data["statuses"] = {str(k): v for k, v in sorted(self.statuses.items())}
        if self.rows is not None:
            data["rows"] = {**asdict(self.rows), "delta": self.rows.delta, "ok": self.rows.ok}
        return data


def fill_pct_floor(results: Sequence[CaseResult]) -> None:
    """% of the floor case measured at the same number of connections."""
    floors = {r.connections: r.rps for r in results if r.case == "floor" and r.measured}
    for result in results:
        floor = floors.get(result.connections)
        if result.measured and result.case != "floor" and floor:
            result.pct_floor = 100.0 * result.rps / floor
        elif result.measured and result.case == "floor":
            result.pct_floor = 100.0


def describe_cpu(cpu_us: dict[str, float]) -> str:
    if not cpu_us:
        return "-"
    names = [n for n in CPU_ORDER if n in cpu_us] + sorted(set(cpu_us) - set(CPU_ORDER))
    text = " + ".join(f"{name} {cpu_us[name]:.0f}" for name in names)
    return text + (f" = {sum(cpu_us.values()):.0f}" if len(names) > 1 else "")


def _fmt_num(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def format_table(results: Sequence[CaseResult], show_workers: bool = False) -> str:
    headers = ["case", "conns"]
    if show_workers:
        headers.append("workers")
    headers += ["req/s", "p50 ms", "p99 ms", "p99/p50", "non-2xx", "sock err", "% floor",
                "CPU µs/req", "note"]
    rows: list[list[str]] = []
    for r in results:
        row = [r.case, str(r.connections)]
        if show_workers:
            row.append("-" if r.workers is None else str(r.workers))
        if r.measured:
            row += [
                _fmt_num(r.rps),
                f"{r.p50_ms:.2f}",
                f"{r.p99_ms:.2f}",
                f"{r.p99_ms / r.p50_ms:.1f}" if r.p50_ms > 0 else "-",
                str(r.non_2xx),
                str(r.socket_errors),
                "-" if r.pct_floor is None else f"{r.pct_floor:.1f}%",
                describe_cpu(r.cpu_us),
            ]
        else:
            row += ["-"] * 8
        note = r.note
        if r.rows is not None:
            note = (note + "; " if note else "") + r.rows.describe()
        row.append(r.status.upper() + (": " + note if note else "") if not r.measured else note)
        rows.append(row)
    numeric = {"conns", "workers", "req/s", "p50 ms", "p99 ms", "p99/p50", "non-2xx", "sock err",
               "% floor"}
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h)
              for i, h in enumerate(headers)]
    # The note column is free text: not padded.
    widths[-1] = 0

    def line(cells: Sequence[str]) -> str:
        out = []
        for cell, header, width in zip(cells, headers, widths, strict=True):
            out.append(cell.rjust(width) if header in numeric else cell.ljust(width))
        return "  ".join(out).rstrip()

    sep = "  ".join("-" * w for w in widths[:-1]) + "  ----"
    return "\n".join([line(headers), sep, *(line(row) for row in rows)])


# ---------------------------------------------------------------- targets


@dataclass
class Target:
    name: str
    requirement: str
    measured: str
    met: bool | None  # None: not measured in this run

    @property
    def verdict(self) -> str:
        return {True: "met", False: "NOT MET", None: "not measured"}[self.met]


def _pick(results: Iterable[CaseResult], case: str) -> CaseResult | None:
    for r in results:
        if (r.case == case and r.connections == TARGET_CONNECTIONS and r.measured
                and r.workers in (None, TARGET_WORKERS)):
            return r
    return None


def _ratio_target(results: Sequence[CaseResult], case: str, min_pct: float) -> Target:
    name = f"{case}: throughput vs floor ({TARGET_CONNECTIONS} conns)"
    r = _pick(results, case)
    if r is None or r.pct_floor is None:
        return Target(name, f">= {min_pct:.0f} % of floor", "-", None)
    return Target(name, f">= {min_pct:.0f} % of floor",
                  f"{r.pct_floor:.1f} % ({r.rps:,.0f} req/s)", r.pct_floor >= min_pct)


def evaluate_targets(results: Sequence[CaseResult],
                     memory: dict[str, list[dict[str, Any]]]) -> list[Target]:
    targets: list[Target] = []
    for case in ("book-bff-desktop", "book-bff-mobile"):
        targets.append(_ratio_target(results, case, 17))
        r = _pick(results, case)
        targets.append(Target(f"{case}: p99 latency", "< 30 ms",
                              "-" if r is None else f"{r.p99_ms:.2f} ms",
                              None if r is None else r.p99_ms < 30))
        errors = "-" if r is None else f"{r.non_2xx} non-2xx, {r.socket_errors} socket"
        targets.append(Target(f"{case}: errors", "0 non-2xx, 0 socket errors", errors,
                              None if r is None else r.non_2xx == 0 and r.socket_errors == 0))
    targets.append(_ratio_target(results, "book-direct", 25))

    post = _pick(results, "customer-post-bff")
    ceiling = _pick(results, "commit-ceiling")
    measured = "-" if post is None else f"{post.rps:,.0f} req/s"
    if post is not None and ceiling is not None:
        measured += f" (commit ceiling {ceiling.rps:,.0f} tx/s)"
    targets.append(Target("customer-post-bff: throughput", ">= 700 req/s", measured,
                          None if post is None else post.rps >= 700))
    rows_results = [r for r in results if r.case in ("customer-post-bff", "book-post-bff")
                    and r.rows is not None]
    for case in ("customer-post-bff", "book-post-bff"):
        checks = [r.rows for r in rows_results if r.case == case and r.rows is not None]
        if not checks:
            targets.append(Target(f"{case}: rows == 201s", "every run", "-", None))
            continue
        bad = [c for c in checks if not c.ok]
        measured_rows = (f"{len(checks) - len(bad)}/{len(checks)} runs match"
                         + ("" if not bad else f"; first mismatch: {bad[0].describe()}"))
        targets.append(Target(f"{case}: rows == 201s", "every run", measured_rows, not bad))

    for service, procs in sorted(memory.items()):
        if not procs:
            continue
        worst = max(procs, key=lambda p: float(p["rss_mb"]))
        targets.append(Target(f"{service}: RSS per process", f"< {RSS_LIMIT_MB:.0f} MB",
                              f"max {worst['rss_mb']} MB over {len(procs)} process(es)",
                              float(worst["rss_mb"]) < RSS_LIMIT_MB))
    return targets


def format_targets(targets: Sequence[Target]) -> str:
    if not targets:
        return "(no targets)"
    w_name = max(len(t.name) for t in targets)
    w_req = max(len(t.requirement) for t in targets)
    w_meas = max(len(t.measured) for t in targets)
    return "\n".join(
        f"{t.name.ljust(w_name)}  {t.requirement.ljust(w_req)}  {t.measured.ljust(w_meas)}  "
        f"{t.verdict}"
        for t in targets
    )


# ---------------------------------------------------------------- workers


def format_workers_comparison(results: Sequence[CaseResult], workers: Sequence[int]) -> str:
    """req/s and p99 of each case at each WORKERS value, side by side."""
    if len(workers) < 2:
        return ""
    keyed = {(r.case, r.connections, r.workers): r for r in results
             if r.measured and r.workers is not None}
    pairs = sorted({(case, conns) for case, conns, _w in keyed}, key=lambda k: (
        [r.case for r in results].index(k[0]), k[1]))
    headers = ["case", "conns"]
    for w in workers:
        headers += [f"req/s w{w}", f"p99 w{w}"]
    headers.append(f"w{workers[-1]}/w{workers[0]}")
    lines = [headers]
    for case, conns in pairs:
        row = [case, str(conns)]
        for w in workers:
            r = keyed.get((case, conns, w))
            row += ["-", "-"] if r is None else [f"{r.rps:,.0f}", f"{r.p99_ms:.2f}"]
        first, last = keyed.get((case, conns, workers[0])), keyed.get((case, conns, workers[-1]))
        row.append(f"{last.rps / first.rps:.2f}x" if first and last and first.rps else "-")
        lines.append(row)
    widths = [max(len(row[i]) for row in lines) for i in range(len(headers))]
    return "\n".join("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                               for i, (cell, w) in enumerate(zip(row, widths, strict=True)))
                     for row in lines)


def format_memory(memory: dict[str, list[dict[str, Any]]]) -> str:
    lines = []
    width = max((len(service) for service in memory), default=0)
    for service, procs in memory.items():
        for p in procs:
            lines.append(f"{service:<{width}}  pid {p['pid']:<8} {p['role']:<16} "
                         f"{p['rss_mb']:>7} MB")
    return "\n".join(lines) or "(no service process running)"


# ---------------------------------------------------------------- files


def write_json(path: Path, meta: dict[str, Any], results: Sequence[CaseResult],
               memory: dict[str, Any], targets: Sequence[Target], notes: Sequence[str]) -> None:
    document = {
        "meta": meta,
        "results": [r.to_json() for r in results],
        "memory": memory,
        "targets": [{**asdict(t), "verdict": t.verdict} for t in targets],
        "notes": list(notes),
    }
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def write_chart(path: Path, results: Sequence[CaseResult], title: str) -> bool:
    """Throughput and p99 per case, one bar per connection count. False: nothing to draw."""
    measured = [r for r in results if r.measured]
    if not measured:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def label(r: CaseResult) -> str:
        return r.case if r.workers is None or len({x.workers for x in measured} - {None}) < 2 \
            else f"{r.case} w{r.workers}"

    labels: list[str] = []
    for r in measured:
        if label(r) not in labels:
            labels.append(label(r))
    conns = sorted({r.connections for r in measured})
    width = 0.8 / len(conns)
    fig, (ax_rps, ax_p99) = plt.subplots(2, 1, figsize=(max(8, 1.1 * len(labels) + 3), 9),
                                         sharex=True)
    for i, c in enumerate(conns):
        xs, rps, p99 = [], [], []
        for j, name in enumerate(labels):
            hit = next((x for x in measured if label(x) == name and x.connections == c), None)
            if hit is not None:
                xs.append(j + (i - (len(conns) - 1) / 2) * width)
                rps.append(hit.rps)
                p99.append(hit.p99_ms)
        bars = ax_rps.bar(xs, rps, width, label=f"{c} conn")
        ax_rps.bar_label(bars, fmt="%.0f", fontsize=7)
        bars = ax_p99.bar(xs, p99, width, label=f"{c} conn")
        ax_p99.bar_label(bars, fmt="%.1f", fontsize=7)
    ax_rps.set_ylabel("requests / s")
    ax_rps.set_title(title)
    ax_rps.legend()
    ax_rps.grid(axis="y", alpha=0.3)
    ax_p99.set_ylabel("p99 latency (ms, log)")
    ax_p99.set_yscale("log")
    ax_p99.grid(axis="y", alpha=0.3)
    ax_p99.set_xticks(range(len(labels)))
    ax_p99.set_xticklabels(labels, rotation=30, ha="right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
