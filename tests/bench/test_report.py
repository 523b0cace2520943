"""Table, targets, workers comparison and files, from made-up results."""

from __future__ import annotations

import json

import pytest
from benchkit import report
from benchkit.cases import select_cases, services_needed
from benchkit.report import CaseResult, RowsCheck


def res(case: str, rps: float, conns: int = 16, workers: int | None = 1, **kw) -> CaseResult:
    return CaseResult(case, case, conns, workers, rps=rps, **kw)


def test_percent_of_floor_uses_the_floor_at_the_same_connections() -> None:
    results = [res("floor", 10_000, workers=None), res("floor", 5_000, conns=1, workers=None),
               res("book-direct", 3_000), res("book-direct", 1_000, conns=1),
               res("customer-direct", 100, conns=64)]
    report.fill_pct_floor(results)
    assert [r.pct_floor for r in results] == [100.0, 100.0, 30.0, 20.0, None]


def test_table_has_one_line_per_run_and_shows_skips_and_row_checks() -> None:
    results = [res("floor", 12_345.6, workers=None, p50_ms=0.5, p99_ms=2.25),
               res("customer-post-bff", 800, non_2xx=3, socket_errors=1,
                   rows=RowsCheck("customers", 10, 20, 10)),
               CaseResult("customer-bff", "x", 16, 1, status="skipped",
                          note="bff_customer/app.py does not exist yet")]
    report.fill_pct_floor(results)
    lines = report.format_table(results).splitlines()
    assert lines[0].split()[:3] == ["case", "conns", "req/s"]
    assert len(lines) == 2 + 3
    assert "12,346" in lines[2] and "2.25" in lines[2] and "100.0%" in lines[2]
    assert "customers: +10 rows, 10 x 201 -> OK" in lines[3]
    assert "6.5%" in lines[3]
    assert "SKIPPED: bff_customer/app.py does not exist yet" in lines[4]


def test_rows_check_flags_a_mismatch() -> None:
    check = RowsCheck("books", before=5, after=106, created=100, unanswered=1)
    assert not check.ok
    assert "MISMATCH" in check.describe() and "1 requests unanswered" in check.describe()


def by_name(targets: list[report.Target]) -> dict[str, report.Target]:
    return {t.name: t for t in targets}


def test_targets_met_not_met_and_not_measured() -> None:
    results = [
        res("floor", 10_000, workers=None),
        res("book-bff-desktop", 2_000, p99_ms=12.0),
        res("book-bff-mobile", 1_500, p99_ms=45.0, non_2xx=1),
        res("book-direct", 3_000),
        res("book-direct", 9_999, conns=64),  # other connection counts do not count
        res("customer-post-bff", 650, rows=RowsCheck("customers", 0, 650, 650)),
        res("commit-ceiling", 900, workers=None),
    ]
    report.fill_pct_floor(results)
    memory = {"svc_book": [{"pid": 1, "role": "main", "rss_mb": 80.0}],
              "bff_book": [{"pid": 2, "role": "main", "rss_mb": 70.0},
                           {"pid": 3, "role": "child", "rss_mb": 130.5}]}
    targets = by_name(report.evaluate_targets(results, memory))
    assert targets["book-bff-desktop: throughput vs floor (16 conns)"].met is True
    assert targets["book-bff-desktop: p99 latency"].met is True
    assert targets["book-bff-mobile: throughput vs floor (16 conns)"].met is False
    assert targets["book-bff-mobile: p99 latency"].met is False
    assert targets["book-bff-mobile: errors"].met is False
    assert targets["book-direct: throughput vs floor (16 conns)"].met is True
    post = targets["customer-post-bff: throughput"]
    assert post.met is False and "commit ceiling 900" in post.measured
    assert targets["customer-post-bff: rows == 201s"].met is True
    assert targets["book-post-bff: rows == 201s"].met is None
    assert targets["bff_book: RSS per process"].met is False
    assert targets["svc_book: RSS per process"].met is True
    assert "NOT MET" in report.format_targets(list(targets.values()))


def test_targets_use_workers_1_only() -> None:
    results = [res("floor", 10_000, workers=None), res("book-direct", 3_000, workers=2)]
    report.fill_pct_floor(results)
    targets = by_name(report.evaluate_targets(results, {}))
    assert targets["book-direct: throughput vs floor (16 conns)"].met is None


def test_workers_comparison_puts_worker_counts_side_by_side() -> None:
    results = [res("floor", 10_000, workers=None), res("book-direct", 1_000, p99_ms=5),
               res("book-direct", 1_500, workers=2, p99_ms=4)]
    text = report.format_workers_comparison(results, [1, 2])
    header, row = text.splitlines()
    assert header.split() == ["case", "conns", "req/s", "w1", "p99", "w1", "req/s", "w2",
                              "p99", "w2", "w2/w1"]
    assert row.split() == ["book-direct", "16", "1,000", "5.00", "1,500", "4.00", "1.50x"]
    assert report.format_workers_comparison(results, [1]) == ""


def test_json_and_chart_files(tmp_path) -> None:
    results = [res("floor", 10_000, workers=None, p99_ms=1.0),
               res("book-direct", 3_000, p99_ms=5.0, statuses={200: 10},
                   rows=RowsCheck("books", 0, 1, 1)),
               CaseResult("customer-bff", "x", 16, 1, status="skipped", note="missing")]
    report.fill_pct_floor(results)
    path = tmp_path / "results.json"
    report.write_json(path, {"workers": [1]}, results, {}, [], ["a note"])
    data = json.loads(path.read_text())
    assert [r["case"] for r in data["results"]] == ["floor", "book-direct", "customer-bff"]
    assert data["results"][1]["pct_floor"] == 30.0
    assert data["results"][1]["statuses"] == {"200": 10}
    assert data["results"][1]["rows"]["ok"] is True
    assert data["notes"] == ["a note"]
    chart = tmp_path / "chart.png"
    assert report.write_chart(chart, results, "title")
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not report.write_chart(tmp_path / "none.png", results[2:], "title")


def test_case_selection() -> None:
    assert [c.name for c in select_cases("floor,book-direct")] == ["floor", "book-direct"]
    assert [c.name for c in select_cases("book-bff-*")] == ["book-bff-desktop",
                                                            "book-bff-mobile"]
    assert len(select_cases("all")) == len(select_cases(None)) == 12
    assert [c.name for c in select_cases("traced-*")] == ["traced-book-direct", "traced-book-bff"]
    assert "svc_book" in services_needed(select_cases("traced-book-bff"))  # seeds the twin's db
    with pytest.raises(ValueError, match="unknown case"):
        select_cases("floor,nope")
    assert services_needed(select_cases("customer-post-bff,floor")) == [
        "floor", "svc_customer", "bff_customer"]
