"""TLS at the public edge on EKS: the BFF load balancers listen on HTTPS 443 only, with the
ACM certificate scripts/deploy.sh takes from TLS_CERT_ARN (loud when a dry run lacks it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.deploy.deploy_script import VERSION, deploy_env, fake_tools, run_script
from tests.deploy.k8s import KUBECTL, MANIFESTS, by_kind, find, render

pytestmark = pytest.mark.slow  # every test starts a process

__all__ = ["fake_tools"]  # the fixture, imported for the tests below

needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl not installed")
BFF_SERVICES = ("bff-book", "bff-customer")
CERT = "arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789"
SSL_CERT = "service.beta.kubernetes.io/aws-load-balancer-ssl-cert"


@needs_kubectl
def test_eks_bff_load_balancers_serve_https_only() -> None:
    resources = render(MANIFESTS / "overlays" / "eks")
    for name in BFF_SERVICES:
        service = find(resources, "Service", name)
        assert service["spec"]["type"] == "LoadBalancer"
        assert service["spec"]["ports"] == [
            {"name": "https", "port": 443, "targetPort": "http", "protocol": "TCP"}
        ], name
        annotations = service["metadata"]["annotations"]
        assert annotations[SSL_CERT].startswith("arn:aws:acm:")
        assert annotations["service.beta.kubernetes.io/aws-load-balancer-ssl-ports"] == "https"
        assert annotations["service.beta.kubernetes.io/aws-load-balancer-ssl-negotiation-policy"] \
            .startswith("ELBSecurityPolicy-TLS13")
    # Nothing else in the namespace is exposed outside the cluster.
    for name, service in by_kind(resources, "Service").items():
        if name not in BFF_SERVICES:
            assert service["spec"].get("type", "ClusterIP") == "ClusterIP", name


@needs_kubectl
def test_local_overlay_keeps_plain_http_for_port_forwarding() -> None:
    resources = render(MANIFESTS / "overlays" / "local")
    for name in BFF_SERVICES:
        ports = find(resources, "Service", name)["spec"]["ports"]
        assert [p["port"] for p in ports] == [80]


def test_dry_run_without_tls_cert_arn_says_so_loudly(
    fake_tools: tuple[Path, Path], tmp_path: Path
) -> None:
    bin_dir, calls = fake_tools
    env = deploy_env(DEPLOY_WORKDIR=str(tmp_path / "work"))
    env.pop("TLS_CERT_ARN", None)
    result = run_script(["--dry-run", "--version", VERSION], env, bin_dir)
    assert result.returncode == 0, result.stderr
    for stream in (result.stdout, result.stderr):
        assert stream.count("WARNING: TLS_CERT_ARN is NOT SET") == 2  # at the start and the end
    assert result.stdout.rstrip().endswith("!" * 78)
    assert calls.read_text() == ""


def test_real_run_without_tls_cert_arn_refuses_before_touching_anything(
    fake_tools: tuple[Path, Path], tmp_path: Path
) -> None:
    bin_dir, calls = fake_tools
    env = deploy_env(DEPLOY_WORKDIR=str(tmp_path / "work"))
    env.pop("TLS_CERT_ARN", None)
    result = run_script(["--version", VERSION], env, bin_dir)
    assert result.returncode == 2
    assert "TLS_CERT_ARN is required" in result.stderr
    assert calls.read_text() == ""


@pytest.mark.parametrize("arn", ["arn:aws:iam::123456789012:role/x", "certificate/abc", "x y"])
def test_a_malformed_tls_cert_arn_is_refused(
    fake_tools: tuple[Path, Path], tmp_path: Path, arn: str
) -> None:
    bin_dir, _calls = fake_tools
    env = deploy_env(DEPLOY_WORKDIR=str(tmp_path / "work"), TLS_CERT_ARN=arn)
    result = run_script(["--dry-run", "--version", VERSION], env, bin_dir)
    assert result.returncode == 2
    assert "TLS_CERT_ARN must be an ACM certificate ARN" in result.stderr


@needs_kubectl
def test_generated_kustomization_puts_the_certificate_on_both_load_balancers(
    fake_tools: tuple[Path, Path], tmp_path: Path
) -> None:
    bin_dir, _calls = fake_tools
    work = tmp_path / "work"
    env = deploy_env(DEPLOY_WORKDIR=str(work), TLS_CERT_ARN=CERT)
    result = run_script(["--dry-run", "--version", VERSION], env, bin_dir)
    assert result.returncode == 0, result.stderr
    assert "TLS_CERT_ARN is NOT SET" not in result.stdout + result.stderr
    resources = render(work)
    for name in BFF_SERVICES:
        service = find(resources, "Service", name)
        assert service["metadata"]["annotations"][SSL_CERT] == CERT
        assert [p["port"] for p in service["spec"]["ports"]] == [443]
    # The smoke test goes through HTTPS, never plain HTTP.
    smoke = result.stdout[result.stdout.index("Smoke test"):]
    assert "https://<bff-book-load-balancer>/status" in smoke
    assert "http://<" not in smoke
