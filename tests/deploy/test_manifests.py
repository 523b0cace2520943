"""Kustomize manifests: every overlay renders, validates strictly, and means what we intend."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.deploy.k8s import (
    K8S_VERSION,
    KUBECTL,
    MANIFESTS,
    ROOT,
    Resource,
    by_kind,
    config_data,
    containers,
    env_of,
    find,
    load_files,
    pod_labels,
    pod_spec,
    render,
    restricted_violations,
    traffic_allowed,
    validation_errors,
    workloads,
)

pytestmark = pytest.mark.slow  # every test starts a process

OVERLAYS = ("local", "eks")
APP_DEPLOYMENTS = {  # name -> (module, port, replicas)
    "svc-book": ("svc_book", 3000, 2),
    "svc-customer": ("svc_customer", 3001, 2),
    "crm": ("crm", 3002, 1),
    "bff-book": ("bff_book", 8080, 2),
    "bff-customer": ("bff_customer", 8081, 2),
}
needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl (kustomize) not installed")




@pytest.fixture(scope="module", params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> tuple[str, list[Resource]]:
    if KUBECTL is None:
        pytest.skip("kubectl (kustomize) not installed; the raw files are still validated")
    return request.param, render(MANIFESTS / "overlays" / request.param)


@pytest.fixture(scope="module")
def local() -> list[Resource]:
    if KUBECTL is None:
        pytest.skip("kubectl not installed")
    return render(MANIFESTS / "overlays" / "local")


@pytest.fixture(scope="module")
def eks() -> list[Resource]:
    if KUBECTL is None:
        pytest.skip("kubectl not installed")
    return render(MANIFESTS / "overlays" / "eks")


# --- validation --------------------------------------------------------------------------


def test_raw_resource_files_validate_strictly() -> None:
    """Runs without kubectl too: every plain resource file in base and overlays."""
    files = sorted(p for p in MANIFESTS.rglob("*.yaml") if p.name != "kustomization.yaml")
    resources = load_files(files)
    assert len(resources) >= 30
    assert validation_errors([doc for _path, doc in resources]) == []


def test_monitoring_resources_are_validated_strictly_too() -> None:
    bad: Resource = {"apiVersion": "monitoring.coreos.com/v1", "kind": "PodMonitor",
                     "metadata": {"name": "x"},
                     "spec": {"selector": {}, "podMetricsEndpoints": [{"port": "http",
                                                                       "intervall": "15s"}]}}
    assert any("intervall" in e for e in validation_errors([bad]))
    assert validation_errors([{**bad, "kind": "ServiceMonitor"}])


def test_strict_validation_rejects_an_unknown_field() -> None:
    """The validator really is strict (guards the test above against a silent no-op)."""
    bad: Resource = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"},
                     "spec": {"ports": [{"port": 80}], "typo": True}}
    assert validation_errors([bad])


@needs_kubectl
def test_every_rendered_resource_validates_strictly(overlay: tuple[str, list[Resource]]) -> None:
    _name, resources = overlay
    assert validation_errors(resources) == []


@needs_kubectl
def test_kubernetes_validate_cli_passes_on_rendered_overlays(tmp_path: Any) -> None:
    for name in OVERLAYS:
        rendered = subprocess.run(
            [str(KUBECTL), "kustomize", str(MANIFESTS / "overlays" / name)],
            capture_output=True, text=True, check=True,
        ).stdout
        path = tmp_path / f"{name}.yaml"
        path.write_text(rendered)
        cli = ROOT / ".venv" / "bin" / "kubernetes-validate"
        command = [str(cli)] if cli.exists() else ["kubernetes-validate"]
        result = subprocess.run(
            [*command, "--strict", "--quiet", "-k", K8S_VERSION, str(path)],
            capture_output=True, text=True, check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr


# --- workloads ---------------------------------------------------------------------------


@needs_kubectl
def test_namespace_enforces_restricted_and_holds_everything(overlay: tuple[str, list[Resource]]) -> None:
    _name, resources = overlay
    ns = find(resources, "Namespace", "book-store")
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for r in resources:
        if r["kind"] != "Namespace":
            assert r["metadata"].get("namespace") == "book-store", f"{r['kind']}/{r['metadata']['name']}"


@needs_kubectl
def test_replicas_and_commands(overlay: tuple[str, list[Resource]]) -> None:
    name, resources = overlay
    deployments = by_kind(resources, "Deployment")
    admin = [9000] if name == "eks" else []  # ADMIN_PORT (tests/deploy/test_admin_port.py)
    include = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {p.rstrip("*") for p in include}
    for name, (module, port, replicas) in APP_DEPLOYMENTS.items():
        d = deployments[name]
        assert d["spec"]["replicas"] == replicas, name
        (c,) = pod_spec(d)["containers"]
        assert c["command"] == ["python", "-m", module]
        assert module in packages
        assert [p["containerPort"] for p in c["ports"]] == [port, *admin]
        assert env_of(c)["PORT"]["value"] == str(port)


@needs_kubectl
def test_every_pod_passes_the_restricted_pod_security_standard(overlay: tuple[str, list[Resource]]) -> None:
    _name, resources = overlay
    pods = list(workloads(resources))
    assert len(pods) >= 6
    for w in pods:
        assert restricted_violations(pod_spec(w)) == [], w["metadata"]["name"]


def test_restricted_checker_flags_a_root_pod() -> None:
    spec = {"containers": [{"name": "c", "securityContext": {"runAsUser": 0, "privileged": True}}],
            "volumes": [{"name": "h", "hostPath": {"path": "/"}}]}
    problems = restricted_violations(spec)
    assert any("privileged" in p for p in problems)
    assert any("hostPath" in p for p in problems)
    assert any("runAsNonRoot" in p for p in problems)


@needs_kubectl
def test_bookstore_containers_are_hardened_probed_and_sized(overlay: tuple[str, list[Resource]]) -> None:
    _name, resources = overlay
    seen = 0
    for w in workloads(resources):
        spec = pod_spec(w)
        assert spec.get("automountServiceAccountToken") is False, w["metadata"]["name"]
        for c in containers(spec):
            if "bookstore" not in c["image"]:
                continue
            seen += 1
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"]["drop"] == ["ALL"]
            assert spec["securityContext"]["runAsUser"] == 10001  # the image's numeric user
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(c["resources"][kind]), c["name"]
            mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
            volumes = {v["name"]: v for v in spec["volumes"]}
            assert "emptyDir" in volumes[mounts["/tmp"]], c["name"]
            if w["kind"] == "Deployment":
                port_names = {p["name"] for p in c["ports"]}
                assert c["livenessProbe"]["httpGet"]["path"] == "/status"
                assert c["readinessProbe"]["httpGet"]["path"] == "/ready"
                assert c["livenessProbe"]["httpGet"]["port"] in port_names
                assert c["readinessProbe"]["httpGet"]["port"] in port_names
    assert seen >= 8


@needs_kubectl
def test_writable_paths_are_on_empty_dirs(overlay: tuple[str, list[Resource]]) -> None:
    _name, resources = overlay
    for name, setting in (("svc-book", "BREAKER_STATE_FILE"), ("crm", "MAIL_DIR")):
        spec = pod_spec(find(resources, "Deployment", name))
        (c,) = spec["containers"]
        path = PurePosixPath(env_of(c)[setting]["value"])
        directory = path.parent if setting == "BREAKER_STATE_FILE" else path
        mounts = {PurePosixPath(m["mountPath"]): m["name"] for m in c["volumeMounts"]}
        assert directory in mounts, f"{name}: {setting}={path} is not on a volume"
        volume = next(v for v in spec["volumes"] if v["name"] == mounts[directory])
        assert "emptyDir" in volume


@needs_kubectl
def test_secret_and_config_references(overlay: tuple[str, list[Resource]]) -> None:
    name, resources = overlay
    secrets = set(by_kind(resources, "Secret"))
    configmaps = set(by_kind(resources, "ConfigMap"))
    expected_from_env = deploy_script_secrets()
    for w in workloads(resources):
        for c in containers(pod_spec(w)):
            for source in c.get("envFrom", []):
                if "configMapRef" in source:
                    assert source["configMapRef"]["name"] in configmaps
            for var in c.get("env", []):
                ref = var.get("valueFrom", {}).get("secretKeyRef")
                if ref is None:
                    continue
                if name == "local" and not ref.get("optional"):
                    secret = find(resources, "Secret", ref["name"])
                    assert ref["key"] in secret.get("data", {}), ref
                    assert ref["name"] in secrets
                if name == "eks":
                    # On EKS the Secrets come from scripts/deploy.sh: names and keys must match.
                    assert ref["key"] in expected_from_env.get(ref["name"], set()), ref


def deploy_script_secrets() -> dict[str, set[str]]:
    """Secret name -> keys, from the `apply_secret NAME KEY=VAR...` lines of deploy.sh (a pair
    may be conditional, `${VAR:+KEY=VAR}`, and continue on the next line)."""
    found: dict[str, set[str]] = {}
    script = (ROOT / "scripts" / "deploy.sh").read_text().replace("\\\n", " ")
    for line in script.splitlines():
        m = re.match(r"\s*apply_secret ([a-z0-9-]+) (.+)$", line)
        if m:
            pairs = [re.sub(r"^\$\{\w+:\+(.*)\}$", r"\1", pair) for pair in m[2].split()]
            found[m[1]] = {pair.split("=", 1)[0] for pair in pairs}
    assert found, "no apply_secret calls found in deploy.sh"
    return found


@needs_kubectl
def test_migration_job_runs_all_three_with_each_services_database(overlay: tuple[str, list[Resource]]) -> None:
    _name, resources = overlay
    job = find(resources, "Job", "bookstore-migrate")
    steps = {}
    for c in containers(pod_spec(job)):
        assert c["command"][:3] == ["python", "-m", "libcommon.migrate"]
        steps[c["command"][3]] = env_of(c)["DATABASE_URL"]["valueFrom"]["secretKeyRef"]
    assert set(steps) == {"svc_book", "svc_customer", "crm"}
    for deployment, package in (("svc-book", "svc_book"), ("svc-customer", "svc_customer"), ("crm", "crm")):
        (c,) = pod_spec(find(resources, "Deployment", deployment))["containers"]
        assert env_of(c)["DATABASE_URL"]["valueFrom"]["secretKeyRef"] == steps[package]
    assert pod_spec(job)["restartPolicy"] == "Never"


# --- services, availability, scaling ------------------------------------------------------


@needs_kubectl
def test_only_the_bffs_get_load_balancers_and_services_reach_their_pods(overlay: tuple[str, list[Resource]]) -> None:
    _name, resources = overlay
    services = by_kind(resources, "Service")
    for name, service in services.items():
        expected = "LoadBalancer" if name.startswith("bff-") else "ClusterIP"
        assert service["spec"]["type"] == expected, name
        matching = [w for w in workloads(resources)
                    if all(w["spec"]["template"]["metadata"]["labels"].get(k) == v
                           for k, v in service["spec"]["selector"].items())]
        assert len(matching) == 1, name
        port_names = {p["name"] for c in pod_spec(matching[0])["containers"] for p in c["ports"]}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in port_names
    assert {"bff-book", "bff-customer", "svc-book", "svc-customer", "crm"} <= set(services)


@needs_kubectl
def test_replicated_deployments_spread_over_zones_and_nodes(overlay: tuple[str, list[Resource]]) -> None:
    _name, resources = overlay
    deployments = by_kind(resources, "Deployment")
    for name, d in deployments.items():
        if d["spec"]["replicas"] < 2:
            continue
        constraints = pod_spec(d).get("topologySpreadConstraints", [])
        keys = {c["topologyKey"] for c in constraints}
        assert {"topology.kubernetes.io/zone", "kubernetes.io/hostname"} <= keys, name
        for c in constraints:
            assert c["labelSelector"]["matchLabels"] == d["spec"]["selector"]["matchLabels"], name


@needs_kubectl
def test_the_book_service_runs_one_process_per_pod_whatever_the_configmap_says(
        overlay: tuple[str, list[Resource]]) -> None:
    """Its circuit is per pod (state file on the pod's emptyDir): WORKERS is pinned in the
    Deployment, and an explicit env entry wins over the ConfigMap's envFrom."""
    _name, resources = overlay
    (c,) = pod_spec(by_kind(resources, "Deployment")["svc-book"])["containers"]
    assert env_of(c)["WORKERS"]["value"] == "1"
    assert any("configMapRef" in source for source in c.get("envFrom", []))


@needs_kubectl
def test_pod_disruption_budgets_protect_without_blocking_drains(overlay: tuple[str, list[Resource]]) -> None:
    _name, resources = overlay
    deployments = by_kind(resources, "Deployment")
    pdbs = by_kind(resources, "PodDisruptionBudget")
    assert set(APP_DEPLOYMENTS) <= set(pdbs)
    for name in APP_DEPLOYMENTS:
        spec = pdbs[name]["spec"]
        assert spec["selector"]["matchLabels"] == deployments[name]["spec"]["selector"]["matchLabels"]
        replicas = deployments[name]["spec"]["replicas"]
        if "minAvailable" in spec:
            assert 1 <= spec["minAvailable"] < replicas, name
        else:
            assert spec["maxUnavailable"] >= 1


@needs_kubectl
def test_autoscalers_for_the_bffs_and_the_customer_service(overlay: tuple[str, list[Resource]]) -> None:
    _name, resources = overlay
    hpas = by_kind(resources, "HorizontalPodAutoscaler")
    assert set(hpas) == {"bff-book", "bff-customer", "svc-customer"}
    deployments = by_kind(resources, "Deployment")
    for name, hpa in hpas.items():
        target = hpa["spec"]["scaleTargetRef"]
        assert (target["kind"], target["name"]) == ("Deployment", name)
        assert hpa["spec"]["minReplicas"] == deployments[name]["spec"]["replicas"]
        assert hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]
        (c,) = pod_spec(deployments[name])["containers"]
        assert "cpu" in c["resources"]["requests"]  # utilization needs a request


# --- network policies ---------------------------------------------------------------------


@needs_kubectl
def test_network_policies_allow_only_bff_to_service(overlay: tuple[str, list[Resource]]) -> None:
    _name, resources = overlay
    labels = {name: pod_labels(resources, name) for name in APP_DEPLOYMENTS}
    allowed = {("bff-book", "svc-book", 3000), ("bff-customer", "svc-customer", 3001)}
    for src in APP_DEPLOYMENTS:
        for dst, (_module, port, _replicas) in APP_DEPLOYMENTS.items():
            if src == dst:
                continue
            expected = (src, dst, port) in allowed
            assert traffic_allowed(resources, labels[src], labels[dst], port) is expected, (src, dst)
    # Clients reach the BFFs (from the load balancer, any address) but nothing else.
    for name, (_module, port, _replicas) in APP_DEPLOYMENTS.items():
        assert traffic_allowed(resources, "203.0.113.9", labels[name], port) is name.startswith("bff-")


@needs_kubectl
def test_local_dependencies_only_reachable_by_their_users(local: list[Resource]) -> None:
    def allowed(src: str, dst: str, port: int) -> bool:
        return traffic_allowed(local, pod_labels(local, src), pod_labels(local, dst), port)

    for user in ("svc-book", "svc-customer", "crm", "bookstore-migrate"):
        assert allowed(user, "mysql", 3306), user
    for outsider in ("bff-book", "bff-customer", "recommender", "kafka"):
        assert not allowed(outsider, "mysql", 3306), outsider
    assert allowed("svc-customer", "kafka", 9092)
    assert allowed("crm", "kafka", 9092)
    assert not allowed("svc-book", "kafka", 9092)
    assert not allowed("bff-customer", "kafka", 9092)
    assert allowed("svc-book", "recommender", 3003)
    assert not allowed("bff-book", "recommender", 3003)


@needs_kubectl
def test_eks_database_and_broker_traffic_stays_in_the_vpc(eks: list[Resource]) -> None:
    svc_customer = pod_labels(eks, "svc-customer")
    assert traffic_allowed(eks, svc_customer, "192.168.10.20", 3306)
    assert traffic_allowed(eks, svc_customer, "192.168.10.21", 9094)
    assert not traffic_allowed(eks, svc_customer, "198.51.100.7", 3306)
    assert not traffic_allowed(eks, svc_customer, "192.168.10.20", 22)
    # The CRM reaches SES over HTTPS; the Book service reaches the engine over HTTPS.
    assert traffic_allowed(eks, pod_labels(eks, "crm"), "198.51.100.7", 443)
    assert traffic_allowed(eks, pod_labels(eks, "svc-book"), "198.51.100.7", 443)
    assert not traffic_allowed(eks, pod_labels(eks, "bff-book"), "198.51.100.7", 443)


# --- per-environment settings ------------------------------------------------------------


def _service_port(resources: list[Resource], url: str) -> tuple[str, int]:
    parts = urlsplit(url if "://" in url else f"tcp://{url}")
    assert parts.hostname is not None and parts.port is not None, url
    service = find(resources, "Service", parts.hostname)
    assert parts.port in {p["port"] for p in service["spec"]["ports"]}, url
    return parts.hostname, parts.port


@needs_kubectl
def test_local_settings_point_at_services_that_exist(local: list[Resource]) -> None:
    config = config_data(local)
    assert _service_port(local, config["BOOK_SERVICE_URL"]) == ("svc-book", 3000)
    assert _service_port(local, config["CUSTOMER_SERVICE_URL"]) == ("svc-customer", 3001)
    assert _service_port(local, config["RECOMMENDER_URL"]) == ("recommender", 3003)
    assert _service_port(local, config["KAFKA_BOOTSTRAP_SERVERS"]) == ("kafka", 9092)
    assert config["MAIL_BACKEND"] == "file"
    secrets = by_kind(local, "Secret")
    assert {n.rsplit("-", 1)[0] for n in secrets} >= {"svc-book-db", "svc-customer-db", "crm-db", "bff-jwt"}


@needs_kubectl
def test_eks_uses_msk_tls_ses_irsa_and_no_secrets_in_the_repo(eks: list[Resource]) -> None:
    config = config_data(eks)
    assert config["KAFKA_SECURITY_PROTOCOL"] == "SSL"
    assert all(b.rsplit(":", 1)[1] == "9094" for b in config["KAFKA_BOOTSTRAP_SERVERS"].split(","))
    assert config["MAIL_BACKEND"] == "ses"
    assert by_kind(eks, "Secret") == {}
    crm_sa = find(eks, "ServiceAccount", "crm")
    assert crm_sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].startswith("arn:aws:iam::")
    (c,) = pod_spec(find(eks, "Deployment", "crm"))["containers"]
    assert not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} & set(env_of(c))
    for name in ("bff-book", "bff-customer"):
        annotations = find(eks, "Service", name)["metadata"]["annotations"]
        assert annotations["service.beta.kubernetes.io/aws-load-balancer-type"] == "nlb"


@needs_kubectl
def test_eks_prometheus_scrapes_every_service_on_its_metrics_port(eks: list[Resource]) -> None:
    """The PodMonitor selects the five services' pods, names a port each container has, that
    port is ADMIN_PORT (where /metrics is served), and the monitoring namespace may reach it."""
    (monitor,) = by_kind(eks, "PodMonitor").values()
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    assert endpoint["path"] == "/metrics"
    (expression,) = monitor["spec"]["selector"]["matchExpressions"]
    assert expression["key"] == "app.kubernetes.io/name" and expression["operator"] == "In"
    assert set(expression["values"]) == set(APP_DEPLOYMENTS)
    admin_port = int(config_data(eks)["ADMIN_PORT"])
    policy = find(eks, "NetworkPolicy", "allow-prometheus-scrape")
    (rule,) = policy["spec"]["ingress"]
    assert [p["port"] for p in rule["ports"]] == [admin_port]
    (peer,) = rule["from"]
    assert peer["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "monitoring"}
    assert policy["spec"]["podSelector"] == monitor["spec"]["selector"]
    for name in APP_DEPLOYMENTS:
        assert pod_labels(eks, name)["app.kubernetes.io/name"] in expression["values"]
        (container,) = pod_spec(find(eks, "Deployment", name))["containers"]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports.get(endpoint["port"]) == admin_port, name
    rule_labels = find(eks, "PrometheusRule", "bookstore-alerts")["metadata"]["labels"]
    assert rule_labels["release"] == monitor["metadata"]["labels"]["release"]
