"""The EKS overlay's admin port: ADMIN_PORT set for every service, probes and Prometheus on it,
no Service (least of all a public load balancer) exposing it."""

from __future__ import annotations

import pytest

from tests.deploy.k8s import (
    KUBECTL,
    MANIFESTS,
    Resource,
    by_kind,
    config_data,
    containers,
    pod_labels,
    pod_spec,
    render,
    traffic_allowed,
)

pytestmark = pytest.mark.slow  # every test starts a process

needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl not installed")
ADMIN_PORT = 9000
SERVICES = ("svc-book", "svc-customer", "crm", "bff-book", "bff-customer")


@pytest.fixture(scope="module")
def eks() -> list[Resource]:
    return render(MANIFESTS / "overlays" / "eks")


@needs_kubectl
def test_every_service_serves_the_admin_port_and_is_probed_there(eks: list[Resource]) -> None:
    assert config_data(eks)["ADMIN_PORT"] == str(ADMIN_PORT)
    deployments = by_kind(eks, "Deployment")
    assert set(SERVICES) <= set(deployments)
    for name in SERVICES:
        (container,) = containers(pod_spec(deployments[name]))
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports["admin"] == ADMIN_PORT, name
        assert ports["http"] != ADMIN_PORT
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            assert container[probe]["httpGet"]["port"] == "admin", (name, probe)
        assert container["readinessProbe"]["httpGet"]["path"] == "/ready"


@needs_kubectl
def test_no_service_exposes_the_admin_port(eks: list[Resource]) -> None:
    for name, service in by_kind(eks, "Service").items():
        for port in service["spec"]["ports"]:
            assert port["targetPort"] not in ("admin", ADMIN_PORT), name
            assert port["port"] != ADMIN_PORT, name
    # The internet reaches the BFFs' API port only; the admin port only from Prometheus.
    for name in ("bff-book", "bff-customer"):
        labels = pod_labels(eks, name)
        assert not traffic_allowed(eks, "203.0.113.9", labels, ADMIN_PORT)


@needs_kubectl
def test_prometheus_scrapes_the_admin_port(eks: list[Resource]) -> None:
    (monitor,) = by_kind(eks, "PodMonitor").values()
    assert [e["port"] for e in monitor["spec"]["podMetricsEndpoints"]] == ["admin"]
    assert all(e["path"] == "/metrics" for e in monitor["spec"]["podMetricsEndpoints"])
    policy = by_kind(eks, "NetworkPolicy")["allow-prometheus-scrape"]
    assert [p["port"] for rule in policy["spec"]["ingress"] for p in rule["ports"]] == [ADMIN_PORT]


@needs_kubectl
def test_local_overlay_runs_as_before() -> None:
    local = render(MANIFESTS / "overlays" / "local")
    assert "ADMIN_PORT" not in config_data(local)
    for name in SERVICES:
        (container,) = containers(pod_spec(by_kind(local, "Deployment")[name]))
        assert [p["name"] for p in container["ports"]] == ["http"]
