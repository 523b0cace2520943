"""Helpers for the manifest tests: render overlays, walk pod templates, evaluate policies."""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "manifests"
KUBECTL = shutil.which("kubectl")
# Oldest Kubernetes minor we target (EKS standard support); the schemas are bundled.
K8S_VERSION = "1.30.0"
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "Job", "DaemonSet")

Resource = dict[str, Any]


def render(path: Path) -> list[Resource]:
    """`kubectl kustomize <path>` as a list of resources (needs kubectl)."""
    assert KUBECTL is not None
    out = subprocess.run(
        [KUBECTL, "kustomize", str(path)], capture_output=True, text=True, check=False, timeout=60
    )
    assert out.returncode == 0, f"kubectl kustomize {path} failed: {out.stderr}"
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


def load_files(paths: list[Path]) -> list[tuple[Path, Resource]]:
    return [(p, doc) for p in paths for doc in yaml.safe_load_all(p.read_text()) if doc]


def by_kind(resources: list[Resource], kind: str) -> dict[str, Resource]:
    return {r["metadata"]["name"]: r for r in resources if r["kind"] == kind}


def find(resources: list[Resource], kind: str, name: str) -> Resource:
    found = by_kind(resources, kind).get(name)
    assert found is not None, f"{kind}/{name} missing"
    return found


def pod_spec(workload: Resource) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [*spec.get("initContainers", []), *spec["containers"]]


def workloads(resources: list[Resource]) -> Iterator[Resource]:
    return (r for r in resources if r["kind"] in WORKLOAD_KINDS)


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e for e in container.get("env", [])}


def config_data(resources: list[Resource], name_prefix: str = "bookstore-config") -> dict[str, str]:
    maps = [r for r in resources if r["kind"] == "ConfigMap"
            and r["metadata"]["name"].startswith(name_prefix)]
    assert len(maps) == 1, [m["metadata"]["name"] for m in maps]
    data: dict[str, str] = maps[0]["data"]
    return data


# Volume types the "restricted" Pod Security Standard allows.
RESTRICTED_VOLUME_TYPES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
                           "persistentVolumeClaim", "projected", "secret"}


def restricted_violations(spec: dict[str, Any]) -> list[str]:
    """Why the API server would reject this pod in a namespace enforcing `restricted`."""
    problems = []
    pod_sc = spec.get("securityContext", {})
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(flag):
            problems.append(flag)
    for volume in spec.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUME_TYPES:
            problems.append(f"volume {volume['name']}: {kinds}")
    for c in containers(spec):
        sc = c.get("securityContext", {})
        name = c["name"]
        if sc.get("privileged"):
            problems.append(f"{name}: privileged")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: allowPrivilegeEscalation not false")
        if not sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")):
            problems.append(f"{name}: runAsNonRoot not true")
        if sc.get("runAsUser", pod_sc.get("runAsUser")) == 0:
            problems.append(f"{name}: runAsUser 0")
        seccomp = sc.get("seccompProfile", pod_sc.get("seccompProfile", {})).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            problems.append(f"{name}: seccompProfile {seccomp}")
        caps = sc.get("capabilities", {})
        if "ALL" not in caps.get("drop", []):
            problems.append(f"{name}: capabilities not dropping ALL")
        if set(caps.get("add", [])) - {"NET_BIND_SERVICE"}:
            problems.append(f"{name}: adds capabilities {caps['add']}")
        if any(p.get("hostPort") for p in c.get("ports", [])):
            problems.append(f"{name}: hostPort")
    return problems


# --- NetworkPolicy evaluation (pods in one namespace, plus external IPs) -------------------


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions", []):
        present = expr["key"] in labels
        value = labels.get(expr["key"])
        op = expr["operator"]
        if op == "In" and value not in expr["values"]:
            return False
        if op == "NotIn" and value in expr["values"]:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return True


def _port_ok(rule: dict[str, Any], port: int) -> bool:
    ports = rule.get("ports")
    if not ports:
        return True
    return any(p.get("protocol", "TCP") == "TCP" and p.get("port") == port for p in ports)


def _peer_ok(peers: list[dict[str, Any]] | None, other: dict[str, str] | str) -> bool:
    """`other` is a pod's labels (same namespace) or an IP address outside the cluster."""
    if peers is None:
        return True
    for peer in peers:
        if isinstance(other, str):
            block = peer.get("ipBlock")
            if block and ipaddress.ip_address(other) in ipaddress.ip_network(block["cidr"]) and not any(
                ipaddress.ip_address(other) in ipaddress.ip_network(e) for e in block.get("except", [])
            ):
                return True
        elif ("ipBlock" not in peer and "namespaceSelector" not in peer
              and _selects(peer.get("podSelector", {}), other)):
            return True
    return False


def _direction_allows(policies: list[Resource], pod: dict[str, str], direction: str,
                      other: dict[str, str] | str, port: int) -> bool:
    key, peer_key = ("egress", "to") if direction == "Egress" else ("ingress", "from")
    applying = [p for p in policies if _selects(p["spec"]["podSelector"], pod)
                and direction in p["spec"].get("policyTypes", ["Ingress"])]
    if not applying:
        return True  # no policy isolates the pod in this direction
    return any(_port_ok(rule, port) and _peer_ok(rule.get(peer_key), other)
               for p in applying for rule in p["spec"].get(key, []))


def traffic_allowed(resources: list[Resource], src: dict[str, str] | str,
                    dst: dict[str, str] | str, port: int) -> bool:
    """Would the NetworkPolicies let `src` open a TCP connection to `dst`:`port`?"""
    policies = [r for r in resources if r["kind"] == "NetworkPolicy"]
    if isinstance(src, dict) and not _direction_allows(policies, src, "Egress", dst, port):
        return False
    return not (isinstance(dst, dict)
                and not _direction_allows(policies, dst, "Ingress", src, port))


def pod_labels(resources: list[Resource], workload_name: str) -> dict[str, str]:
    for w in workloads(resources):
        if w["metadata"]["name"] == workload_name:
            labels: dict[str, str] = w["spec"]["template"]["metadata"]["labels"]
            return labels
    raise AssertionError(f"no workload {workload_name}")


# Prometheus Operator custom resources (monitoring.coreos.com/v1) are not in the bundled
# Kubernetes schemas. This is the subset of their API we use, strict (no unknown fields), so
# a typo in the eks overlay's PodMonitor or PrometheusRule is caught; promtool and a real
# Prometheus check the rule expressions themselves (tests/monitoring).
def _strict(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(required),
            "additionalProperties": False}


_STRING = {"type": "string"}
_STRING_MAP = {"type": "object", "additionalProperties": _STRING}
_DURATION = {"type": "string", "pattern": r"^(0|(([0-9]+)(ms|s|m|h|d|w|y))+)$"}
_LABEL_SELECTOR = _strict({
    "matchLabels": _STRING_MAP,
    "matchExpressions": {"type": "array", "items": _strict({
        "key": _STRING, "operator": {"enum": ["In", "NotIn", "Exists", "DoesNotExist"]},
        "values": {"type": "array", "items": _STRING}}, ("key", "operator"))},
})
_METADATA = {"type": "object", "required": ["name"]}
MONITORING_SCHEMAS: dict[str, dict[str, Any]] = {
    "PodMonitor": _strict({
        "apiVersion": {"const": "monitoring.coreos.com/v1"}, "kind": {"const": "PodMonitor"},
        "metadata": _METADATA,
        "spec": _strict({
            "jobLabel": _STRING,
            "podTargetLabels": {"type": "array", "items": _STRING},
            "selector": _LABEL_SELECTOR,
            "namespaceSelector": _strict({"any": {"type": "boolean"},
                                          "matchNames": {"type": "array", "items": _STRING}}),
            "podMetricsEndpoints": {"type": "array", "minItems": 1, "items": _strict({
                "port": _STRING, "path": _STRING, "scheme": {"enum": ["http", "https"]},
                "interval": _DURATION, "scrapeTimeout": _DURATION,
                "honorLabels": {"type": "boolean"},
            })},
        }, ("selector", "podMetricsEndpoints")),
    }, ("apiVersion", "kind", "metadata", "spec")),
    "PrometheusRule": _strict({
        "apiVersion": {"const": "monitoring.coreos.com/v1"}, "kind": {"const": "PrometheusRule"},
        "metadata": _METADATA,
        "spec": _strict({"groups": {"type": "array", "items": _strict({
            "name": _STRING, "interval": _DURATION,
            "rules": {"type": "array", "items": _strict({
                "alert": _STRING, "record": _STRING, "expr": _STRING, "for": _DURATION,
                "keep_firing_for": _DURATION, "labels": _STRING_MAP, "annotations": _STRING_MAP,
            }, ("expr",))},
        }, ("name", "rules"))}}, ("groups",)),
    }, ("apiVersion", "kind", "metadata", "spec")),
}


def monitoring_errors(resource: Resource) -> list[str] | None:
    """Errors of a Prometheus Operator resource, or None when it is not one."""
    if not str(resource.get("apiVersion", "")).startswith("monitoring.coreos.com/"):
        return None
    import jsonschema  # type: ignore[import-untyped]

    schema = MONITORING_SCHEMAS.get(resource.get("kind", ""))
    if schema is None:
        return [f"no schema for {resource.get('kind')} here: add it to MONITORING_SCHEMAS"]
    validator = jsonschema.Draft7Validator(schema)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(resource)]


def validation_errors(resources: list[Resource]) -> list[str]:
    errors = []
    for resource in resources:
        crd_errors = monitoring_errors(resource)
        if crd_errors is not None:
            errors += [f"{resource['kind']}/{resource['metadata']['name']}: {e}" for e in crd_errors]
            continue
        try:
            kubernetes_validate.validate(resource, K8S_VERSION, strict=True)
        except Exception as exc:  # ValidationError or SchemaNotFoundError
            errors.append(f"{resource['kind']}/{resource['metadata']['name']}: {exc}")
    return errors
