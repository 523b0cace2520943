"""The whole local system as real processes (SQLite, Tansu, file mail), exporting traces to an
OTLP receiver, plus a real Prometheus server scraping it: shared by the tests of this folder."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.fixtures.kafka import TansuBroker
from tests.fixtures.otlp import OtlpReceiver
from tests.fixtures.procs import ServiceProcess, free_port, wait_http
from tests.monitoring.rules import write_rules

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
JWT_SECRET = "monitoring-test-secret-0123456789-abcdef"
SERVICES = ("recommender", "svc_book", "svc_customer", "crm", "bff_book", "bff_customer")


@dataclass
class Stack:
    processes: dict[str, ServiceProcess]
    mail_dir: Path
    topic: str
    receiver: OtlpReceiver

    def url(self, service: str) -> str:
        return self.processes[service].url

    def stop(self) -> None:
        for process in reversed(list(self.processes.values())):
            process.stop()

    def logs(self) -> str:
        return "\n".join(f"--- {name} ---\n{p.log()[-3000:]}" for name, p in self.processes.items())


def start_stack(tmp: Path, broker: TansuBroker, receiver: OtlpReceiver) -> Stack:
    topic = f"observed.customer.{free_port()}"
    mail_dir = tmp / "mail"
    common = {
        "LOG_FORMAT": "json",
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        "OTEL_TRACES_SAMPLER": "parentbased_always_on",
    }
    kafka = {"KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap, "KAFKA_CUSTOMER_TOPIC": topic}
    ports = {name: free_port() for name in SERVICES}

    def url(name: str) -> str:
        return f"http://127.0.0.1:{ports[name]}"

    env: dict[str, dict[str, str]] = {
        "recommender": {},
        "svc_book": {"DATABASE_URL": f"sqlite+aiosqlite:///{tmp}/books.db",
                     "RECOMMENDER_URL": url("recommender"),
                     "BREAKER_STATE_FILE": str(tmp / "breaker.json")},
        "svc_customer": {**kafka, "DATABASE_URL": f"sqlite+aiosqlite:///{tmp}/customers.db"},
        "crm": {**kafka, "DATABASE_URL": f"sqlite+aiosqlite:///{tmp}/crm.db",
                "MAIL_BACKEND": "file", "MAIL_DIR": str(mail_dir),
                "CRM_CONSUMER_GROUP": f"crm-{topic}", "KAFKA_FETCH_MAX_WAIT_MS": "50",
                "KAFKA_SESSION_TIMEOUT_MS": "2000", "KAFKA_HEARTBEAT_INTERVAL_MS": "500"},
        "bff_book": {"BOOK_SERVICE_URL": url("svc_book"), "JWT_SECRET": JWT_SECRET},
        "bff_customer": {"CUSTOMER_SERVICE_URL": url("svc_customer"), "JWT_SECRET": JWT_SECRET},
    }
    processes = {
        name: ServiceProcess(name, ports[name], {**common, **env[name]}, tmp / f"{name}.log")
        for name in SERVICES
    }
    stack = Stack(processes, mail_dir, topic, receiver)
    try:
        for process in processes.values():  # all at once: imports overlap
            process.start(wait=False)
        for process in processes.values():
            process.wait_http("/ready", 60)
    except Exception as exc:
        stack.stop()
        raise RuntimeError(f"{exc}\n{stack.logs()}") from exc
    return stack


@dataclass
class Prometheus:
    port: int
    directory: Path
    proc: subprocess.Popen[bytes] | None = field(default=None)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, stack: Stack) -> Prometheus:
        rules = write_rules(self.directory)
        config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "900ms",
                       "evaluation_interval": "1s"},
            "rule_files": [str(rules)],
            "scrape_configs": [
                {"job_name": name.replace("_", "-"),
                 "static_configs": [{"targets": [stack.processes[name].url.removeprefix("http://")]}]}
                for name in SERVICES if name != "recommender"
            ],
        }
        config_path = self.directory / "prometheus.yml"
        config_path.write_text(yaml.safe_dump(config))
        log = (self.directory / "prometheus.log").open("ab")
        self.proc = subprocess.Popen(
            [PROMETHEUS, f"--config.file={config_path}",
             f"--storage.tsdb.path={self.directory / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}",
             "--storage.tsdb.retention.time=1h", "--log.level=warn"],
            stdout=log, stderr=log,
        )
        wait_http(f"{self.url}/-/ready", timeout_s=30, exited=self.proc.poll)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def api(self, path: str, **params: str) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}{query}", timeout=10) as response:
            body = json.loads(response.read())
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        data = self.api("query", query=expr)
        result: list[dict[str, Any]] = data["result"]
        return result

    def wait_until(self, what: str, check: Any, timeout_s: float = 30.0) -> Any:
        deadline = time.monotonic() + timeout_s
        while True:
            value = check()
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"Prometheus: {what} not within {timeout_s}s")
            time.sleep(0.25)
