"""The PromQL metric-name extraction the dashboard and live tests rely on."""

from __future__ import annotations

from tests.monitoring.promql import exported_names, metric_names


def test_metric_names_skips_functions_labels_groupings_and_strings() -> None:
    expr = ('histogram_quantile(0.99, sum by (service, le) (rate(http_request_duration_seconds_bucket'
            '{route!~"/metrics|/status", x="a{b}"}[$__rate_interval]))) > 1 unless on (job) '
            'max(up) == 0 or sum(increase(crm_events_consumed_total[15m])) > 0')
    assert metric_names(expr) == {"http_request_duration_seconds_bucket", "up",
                                  "crm_events_consumed_total"}
    assert metric_names('max by (name, state) (circuit_breaker_state{state!="closed"}) == 1') == {
        "circuit_breaker_state"}


def test_exported_names_cover_histogram_and_counter_samples() -> None:
    text = ("# HELP a_seconds x\n# TYPE a_seconds histogram\n"
            "# HELP b_total y\n# TYPE b_total counter\n# TYPE c gauge\nc 1\n")
    assert exported_names(text) == {"a_seconds_bucket", "a_seconds_sum", "a_seconds_count",
                                    "b_total", "c"}
