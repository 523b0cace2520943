"""CloudWatch log shipping: the eksctl config installs the observability add-on, and the
documented Logs Insights query names fields our JSON log lines really have."""

from __future__ import annotations

import io
import json
import logging
import re

import yaml

from libcommon import logs
from tests.monitoring.rules import ROOT

EKSCTL = ROOT / "deploy" / "eksctl-cluster.yaml"
DOC = ROOT / "docs" / "OBSERVABILITY.md"


def test_eksctl_installs_the_cloudwatch_observability_addon_with_a_narrow_role() -> None:
    config = yaml.safe_load(EKSCTL.read_text())
    addons = {addon["name"]: addon for addon in config["addons"]}
    addon = addons["amazon-cloudwatch-observability"]
    assert addon["attachPolicyARNs"] == ["arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy"]
    assert json.loads(addon["configurationValues"])["containerLogs"]["enabled"] is True
    assert config["iam"]["withOIDC"] is True  # the add-on's role is assumed through IRSA


def _insights_query() -> str:
    text = DOC.read_text()
    match = re.search(r"CloudWatch Logs Insights.*?```\n(.*?)```", text, re.S)
    assert match, "no Logs Insights query in docs/OBSERVABILITY.md"
    return match.group(1)


def test_logs_insights_query_follows_a_request_id_and_a_trace_id() -> None:
    query = _insights_query()
    fields = set(re.findall(r"log_processed\.(\w+)", query))
    assert {"request_id", "trace_id"} <= fields
    assert re.search(r"filter .*log_processed\.request_id = .* or log_processed\.trace_id = ", query)
    # Every field the query reads is one our JSON lines carry (a log line inside a span).
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter("svc"))
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", None, None)
    token = logs.request_id_var.set("rid")
    previous, logs.trace_ids_hook = logs.trace_ids_hook, lambda: ("t" * 32, "s" * 16)
    try:
        handler.emit(record)
    finally:
        logs.trace_ids_hook = previous
        logs.request_id_var.reset(token)
    line = json.loads(stream.getvalue())
    assert fields <= set(line), fields - set(line)
