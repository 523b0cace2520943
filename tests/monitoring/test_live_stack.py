"""Against the running system: a real Prometheus scrapes every service and evaluates every
alerting rule, each alert expression and each dashboard query is answered, and every metric
they name is one the services really export.

One stack per module (six processes, Tansu, an OTLP receiver, Prometheus): about 20 s.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from tests.builders import DESKTOP_UA
from tests.fixtures.kafka import TansuBroker
from tests.fixtures.otlp import OtlpReceiver, ReceivedSpan
from tests.fixtures.procs import free_port
from tests.monitoring.promql import exported_names, metric_names
from tests.monitoring.rules import DASHBOARD, alerts
from tests.monitoring.stack import JWT_SECRET, Prometheus, Stack, start_stack

pytestmark = [pytest.mark.slow, pytest.mark.kafka, pytest.mark.timeout(180)]

ISBN = "978-0321815736"
SCRAPED = ("svc_book", "svc_customer", "crm", "bff_book", "bff_customer")


def token() -> str:
    import jwt

    now = int(time.time())
    return jwt.encode({"sub": "starlord", "iss": "cmu.edu", "iat": now, "exp": now + 3600},
                      JWT_SECRET, algorithm="HS256")


def call(method: str, url: str, body: dict[str, Any] | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={
        "Authorization": f"Bearer {token()}", "User-Agent": DESKTOP_UA,
        **({"Content-Type": "application/json"} if data else {}), **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def customer(n: int) -> dict[str, Any]:
    return {"userId": f"observed{n}@example.com", "name": f"Observed Reader {n}",
            "phone": "555-0100", "address": "1 Main St", "city": "Pittsburgh", "state": "PA",
            "zipcode": "15213"}


async def _publish_malformed(bootstrap: str, topic: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, value=b"{not json", key=b"x",
                                     headers=[("event-id", b"malformed-1")])
    finally:
        await producer.stop()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, tansu_broker: TansuBroker) -> Iterator[Stack]:
    receiver = OtlpReceiver().start()
    stack = start_stack(tmp_path_factory.mktemp("stack"), tansu_broker, receiver)
    try:
        yield stack
    finally:
        stack.stop()
        receiver.stop()


@pytest.fixture(scope="module")
def traffic(stack: Stack, tansu_broker: TansuBroker) -> dict[str, Any]:
    """Requests of every kind the rules and panels look at, and one malformed record."""
    import asyncio

    books, customers = stack.url("bff_book"), stack.url("bff_customer")
    book = {"ISBN": ISBN, "title": "Software Architecture in Practice", "Author": "Bass, L.",
            "description": "seminal", "genre": "non-fiction", "price": 59.95, "quantity": 106}
    assert call("POST", f"{books}/books", book)[0] == 201
    assert call("GET", f"{books}/books/{ISBN}")[0] == 200
    assert call("GET", f"{books}/books/978-0000000000")[0] == 404
    assert call("GET", f"{books}/books/{ISBN}/related-books")[0] in (200, 204)
    status, headers, body = call("POST", f"{customers}/customers", customer(1))
    assert status == 201, body
    asyncio.run(_publish_malformed(tansu_broker.bootstrap, stack.topic))
    deadline = time.monotonic() + 30
    while not list(stack.mail_dir.glob("*.eml")) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert list(stack.mail_dir.glob("*.eml")), stack.logs()
    return {"request_id": headers["X-Request-ID"], "customer": json.loads(body)}


@pytest.fixture(scope="module")
def exposition(stack: Stack, traffic: dict[str, Any]) -> dict[str, str]:
    pages = {}
    for name in SCRAPED:
        with urllib.request.urlopen(f"{stack.url(name)}/metrics", timeout=10) as response:
            pages[name] = response.read().decode()
    return pages


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory, stack: Stack,
               traffic: dict[str, Any]) -> Iterator[Prometheus]:
    server = Prometheus(free_port(), Path(tmp_path_factory.mktemp("prometheus")))
    try:
        server.start(stack)

        def all_up() -> bool:
            targets = server.api("targets")["activeTargets"]
            return len(targets) == len(SCRAPED) and all(t["health"] == "up" for t in targets)

        server.wait_until("every target up", all_up)
        # Scraped after the traffic (counters moved) and the rules evaluated since.
        server.wait_until("a dead letter counted", lambda: server.query(
            "crm_events_dead_lettered_total"))
        time.sleep(2.5)
        yield server
    finally:
        server.stop()


def test_prometheus_scrapes_every_service(prometheus: Prometheus) -> None:
    up = {r["metric"]["job"]: r["value"][1] for r in prometheus.query("up")}
    assert up == {name.replace("_", "-"): "1" for name in SCRAPED}


def test_every_rule_is_loaded_and_evaluates_without_error(prometheus: Prometheus) -> None:
    groups = prometheus.api("rules")["groups"]
    rules = {rule["name"]: rule for group in groups for rule in group["rules"]}
    assert set(rules) == set(alerts())
    for name, rule in rules.items():
        assert rule["health"] == "ok", (name, rule.get("lastError"))
        assert rule["lastEvaluation"] > "2000", name


@pytest.mark.parametrize("alert", sorted(alerts()))
def test_alert_expression_is_answered_over_metrics_that_exist(
    prometheus: Prometheus, exposition: dict[str, str], alert: str,
) -> None:
    expr = alerts()[alert]["expr"]
    prometheus.query(expr)  # answered (status success), firing or not
    exported = set().union(*(exported_names(page) for page in exposition.values()))
    for name in metric_names(expr):
        assert name in exported, f"{alert} reads {name}, which no service exports"
        # ...and Prometheus holds samples of it (not just a TYPE line).
        assert prometheus.query(f"count({name})"), f"{alert}: no samples of {name}"


def test_the_dead_letter_alert_fires_on_a_real_malformed_record(prometheus: Prometheus) -> None:
    firing = prometheus.wait_until("BookstoreDeadLetters firing", lambda: [
        a for a in prometheus.api("alerts")["alerts"]
        if a["labels"]["alertname"] == "BookstoreDeadLetters" and a["state"] == "firing"])
    assert firing[0]["labels"]["code"] == "invalid-json"
    # Nothing else is wrong with the stack: no other alert is pending or firing.
    others = {a["labels"]["alertname"] for a in prometheus.api("alerts")["alerts"]} - {
        "BookstoreDeadLetters"}
    assert others == set()


def _dashboard_queries() -> list[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [(panel["title"], target["expr"]) for panel in dashboard["panels"]
            for target in panel.get("targets", [])]


def test_dashboard_has_a_panel_per_domain_concern() -> None:
    names = set().union(*(metric_names(expr) for _title, expr in _dashboard_queries()))
    assert {"http_requests_total", "http_request_duration_seconds_bucket",
            "circuit_breaker_state", "recommender_request_duration_seconds_bucket",
            "outbox_pending_events", "outbox_oldest_pending_age_seconds",
            "crm_events_consumed_total", "crm_mails_sent_total", "crm_mail_failures_total",
            "crm_events_dead_lettered_total"} <= names


def test_every_dashboard_query_names_exported_metrics_and_is_answered(
    prometheus: Prometheus, exposition: dict[str, str],
) -> None:
    exported = set().union(*(exported_names(page) for page in exposition.values()))
    missing = {}
    for title, expr in _dashboard_queries():
        unknown = metric_names(expr) - exported
        if unknown:
            missing[title] = sorted(unknown)
        grafana_free = expr.replace("$__rate_interval", "1m").replace("$__range", "5m")
        prometheus.query(grafana_free)
    assert missing == {}


# --- one registration, one trace ----------------------------------------------------------

CLIENT_TRACE = "5b8efff798038103d269b633813fc60c"
CLIENT_SPAN = "eee19b7ec3c1b174"


def render_trace(spans: list[ReceivedSpan]) -> str:
    """The trace as a tree: service, span name, duration (also printed for the docs)."""
    children: dict[str, list[ReceivedSpan]] = {}
    ids = {s.span_id for s in spans}
    for span in spans:
        children.setdefault(span.parent_span_id if span.parent_span_id in ids else "", []).append(span)
    lines: list[str] = []

    def walk(parent: str, depth: int) -> None:
        for span in sorted(children.get(parent, []), key=lambda s: s.start_ns):
            lines.append(f"{'  ' * depth}{span.service:<13} {span.name:<40} {span.duration_ms:8.2f} ms")
            walk(span.span_id, depth + 1)

    walk("", 0)
    return "\n".join(lines)


def _chain(spans: list[ReceivedSpan], leaf: ReceivedSpan) -> list[ReceivedSpan]:
    by_id = {s.span_id: s for s in spans}
    chain = [leaf]
    while chain[-1].parent_span_id in by_id:
        chain.append(by_id[chain[-1].parent_span_id])
    return list(reversed(chain))


def test_a_registration_is_one_trace_from_the_bff_to_the_mail_send(
    stack: Stack, traffic: dict[str, Any], tmp_path_factory: pytest.TempPathFactory,
) -> None:
    mails_before = len(list(stack.mail_dir.glob("*.eml")))
    status, headers, _body = call(
        "POST", f"{stack.url('bff_customer')}/customers", customer(2),
        headers={"traceparent": f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"})
    assert status == 201
    request_id = headers["X-Request-ID"]

    def complete(spans: list[ReceivedSpan]) -> bool:
        return any(s.trace_id == CLIENT_TRACE and s.name == "mail send" for s in spans)

    stack.receiver.wait_for(complete, timeout_s=30)
    time.sleep(0.5)  # the CRM's enclosing span is exported a batch later at most
    trace = stack.receiver.trace(CLIENT_TRACE)
    tree = render_trace(trace)
    print(f"\ntrace {CLIENT_TRACE} (request id {request_id}):\n{tree}")
    (tmp_path_factory.getbasetemp() / "registration-trace.txt").write_text(tree + "\n")

    (mail,) = [s for s in trace if s.name == "mail send"]
    chain = [(s.service, s.name) for s in _chain(trace, mail)]
    # Every hop, each the parent of the next, from the client's span to the mail transport.
    expected = [
        ("bff_customer", "POST /customers"),          # server span, parent: the client's
        ("bff_customer", "POST"),                     # aiohttp client span to the service
        ("svc_customer", "POST /customers"),
        ("svc_customer", "transaction"),              # customer + outbox row
        ("svc_customer", "outbox publish"),           # the relay, later, other task
        ("svc_customer", f"{stack.topic} send"),      # aiokafka producer span
        ("crm", "crm process"),                       # continued from the record header
        ("crm", "mail send"),
    ]
    assert chain == expected, tree
    root = _chain(trace, mail)[0]
    assert root.parent_span_id == CLIENT_SPAN
    names = {(s.service, s.name) for s in trace}
    assert {("svc_customer", "INSERT customers"), ("svc_customer", "INSERT outbox"),
            ("crm", f"{stack.topic} receive"), ("crm", "dedupe lookup"),
            ("crm", "dedupe record")} <= names, tree
    assert len(list(stack.mail_dir.glob("*.eml"))) == mails_before + 1

    # Request id and trace id together in the log lines of that registration, CRM included.
    lines = []
    for name in ("bff_customer", "svc_customer", "crm"):
        for raw in stack.processes[name].log().splitlines():
            if raw.startswith("{") and CLIENT_TRACE in raw:
                lines.append((name, json.loads(raw)))
    services = {name for name, _line in lines}
    assert services == {"bff_customer", "svc_customer", "crm"}, lines
    for name, line in lines:
        assert line["request_id"] == request_id, (name, line)
        assert line["trace_id"] == CLIENT_TRACE
    assert any(name == "crm" and "welcome e-mail sent" in line["msg"] for name, line in lines)
