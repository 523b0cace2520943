"""scripts/deploy.sh: shellcheck, and a full --dry-run with no AWS, Docker, cluster or network."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from libcommon.jwt_auth import JwtVerifier
from tests.deploy.deploy_script import (
    ACCOUNT,
    DEPLOYMENTS,
    IMAGE,
    REGION,
    SCRIPT,
    SECRET_VALUES,
    VERSION,
    deploy_env,
    fake_tools,
    run_script,
)
from tests.deploy.k8s import (
    KUBECTL,
    by_kind,
    config_data,
    containers,
    find,
    pod_spec,
    render,
    validation_errors,
    workloads,
)
from tests.deploy.tools import tool

__all__ = ["fake_tools"]  # the fixture, imported for the tests below

pytestmark = pytest.mark.slow  # every test starts a process

@pytest.mark.skipif(tool("shellcheck") is None, reason="shellcheck not installed")
def test_shellcheck_passes() -> None:
    scripts = [SCRIPT]
    result = subprocess.run(
        [str(tool("shellcheck")), "--severity=style", *map(str, scripts)],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dry_run_prints_every_step_in_order_and_runs_nothing(
    fake_tools: tuple[Path, Path], tmp_path: Path
) -> None:
    bin_dir, calls = fake_tools
    env = deploy_env(DEPLOY_WORKDIR=str(tmp_path / "work"),
                     SMTP_USERNAME="smtp-user", SMTP_PASSWORD=SECRET_VALUES[4])
    result = run_script(["--dry-run", "--version", VERSION], env, bin_dir)
    assert result.returncode == 0, result.stderr
    assert calls.read_text() == "", "dry run executed a tool"
    out = result.stdout
    expected_in_order = [
        f"aws eks update-kubeconfig --name bookstore --region {REGION}",
        "aws ecr create-repository --region eu-west-1 --repository-name bookstore",
        "docker login --username AWS --password-stdin",
        f"docker build --platform linux/amd64 --tag {IMAGE}",
        f"docker push {IMAGE}",
        "kubectl apply --server-side -f https://raw.githubusercontent.com/prometheus-operator/"
        "prometheus-operator/v0.77.1/example/prometheus-operator-crd/"
        "monitoring.coreos.com_podmonitors.yaml",
        "monitoring.coreos.com_prometheusrules.yaml",  # the CRDs the eks overlay needs
        "kubectl apply --filename",  # the namespace, before its Secrets
        "kubectl create secret generic svc-book-db",
        "kubectl create secret generic svc-customer-db",
        "kubectl create secret generic crm-db",
        "kubectl create secret generic bff-jwt",
        "kubectl create secret generic crm-smtp",
        "delete job bookstore-migrate",
        f"kubectl apply -k {tmp_path / 'work'}",
        "wait --for=condition=complete job/bookstore-migrate",
        *(f"rollout status deployment/{d}" for d in DEPLOYMENTS),
        "get service bff-book",
        "/status  # expect 200",
        "/books?limit=1  # expect 200",
        "/customers?userId=",
    ]
    position = -1
    for fragment in expected_in_order:
        found = out.find(fragment, position + 1)
        assert found > position, f"{fragment!r} missing or out of order"
        position = found
    for secret in SECRET_VALUES:
        assert secret not in out and secret not in result.stderr


def test_missing_environment_is_named_and_nothing_runs(fake_tools: tuple[Path, Path]) -> None:
    bin_dir, calls = fake_tools
    env = deploy_env()
    del env["CUSTOMER_DATABASE_URL"]
    result = run_script(["--dry-run", "--version", VERSION], env, bin_dir)
    assert result.returncode == 2
    assert "CUSTOMER_DATABASE_URL" in result.stderr
    assert calls.read_text() == ""


@pytest.mark.parametrize(("name", "value"), [
    ("BOOK_DATABASE_URL", "postgres://u:p@h/books"),
    ("AWS_ACCOUNT_ID", "12345"),
    ("JWT_SECRET", "too-short"),
    ("JWT_SECRET", " " * 40),
])
def test_bad_settings_are_refused(fake_tools: tuple[Path, Path], name: str, value: str) -> None:
    bin_dir, _calls = fake_tools
    result = run_script(["--dry-run", "--version", VERSION], deploy_env(**{name: value}), bin_dir)
    assert result.returncode == 2
    assert name in result.stderr


def test_bad_version_tag_is_refused(fake_tools: tuple[Path, Path]) -> None:
    bin_dir, _calls = fake_tools
    result = run_script(["--dry-run", "--version", "bad tag;rm"], deploy_env(), bin_dir)
    assert result.returncode == 2


def test_create_cluster_renders_the_eksctl_config_for_the_region(
    fake_tools: tuple[Path, Path], tmp_path: Path
) -> None:
    bin_dir, calls = fake_tools
    work = tmp_path / "work"
    env = deploy_env(DEPLOY_WORKDIR=str(work), CLUSTER_NAME="shop-prod")
    result = run_script(["--dry-run", "--create-cluster", "--version", VERSION, "--skip-smoke"], env, bin_dir)
    assert result.returncode == 0, result.stderr
    assert f"eksctl create cluster --config-file {work / 'eksctl-cluster.yaml'}" in result.stdout
    assert "update-kubeconfig" not in result.stdout
    assert "curl" not in result.stdout
    assert calls.read_text() == ""
    config = yaml.safe_load((work / "eksctl-cluster.yaml").read_text())
    assert config["metadata"]["name"] == "shop-prod"
    assert config["metadata"]["region"] == REGION
    (account,) = config["iam"]["serviceAccounts"]
    assert account["metadata"] == {"name": "crm", "namespace": "book-store"}
    assert account["roleName"] == "bookstore-crm-ses"
    assert config["managedNodeGroups"][0]["name"] == "default"


@pytest.mark.skipif(KUBECTL is None, reason="kubectl (kustomize) not installed")
def test_generated_kustomization_deploys_the_pushed_image_with_the_environment(
    fake_tools: tuple[Path, Path], tmp_path: Path
) -> None:
    bin_dir, _calls = fake_tools
    work = tmp_path / "work"
    env = deploy_env(DEPLOY_WORKDIR=str(work), STORE_OWNER="Jane Doe & Co.")
    result = run_script(["--dry-run", "--version", VERSION], env, bin_dir)
    assert result.returncode == 0, result.stderr
    resources = render(work)
    assert validation_errors(resources) == []
    images = {c["image"] for w in workloads(resources) for c in containers(pod_spec(w))}
    assert images == {IMAGE}
    config = config_data(resources)
    assert config["KAFKA_BOOTSTRAP_SERVERS"] == env["KAFKA_BOOTSTRAP_SERVERS"]
    assert config["MAIL_FROM"] == env["MAIL_FROM"]
    assert config["RECOMMENDER_URL"] == env["RECOMMENDER_URL"]
    assert config["AWS_REGION"] == REGION
    assert config["STORE_OWNER"] == "Jane Doe & Co."
    assert config["MAIL_BACKEND"] == "ses"  # from the eks overlay, not overridden
    role = find(resources, "ServiceAccount", "crm")["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
    assert role == f"arn:aws:iam::{ACCOUNT}:role/bookstore-crm-ses"
    assert set(DEPLOYMENTS) <= set(by_kind(resources, "Deployment"))
    for secret in SECRET_VALUES:
        assert secret not in (work / "kustomization.yaml").read_text() + (work / "config.env").read_text()


def test_minted_smoke_token_is_accepted_by_the_bff_verifier() -> None:
    secret = SECRET_VALUES[3]
    result = subprocess.run(
        ["bash", "-c", f'source "{SCRIPT}" && mint_jwt'], capture_output=True, text=True, check=False,
        env=deploy_env(JWT_ALLOWED_SUBJECTS=" gamora , drax", JWT_ISSUER="cmu.edu"),
    )
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert secret not in token
    verifier = JwtVerifier(secret=secret, issuer="cmu.edu", allowed_subjects={"gamora", "drax"})
    claims = verifier.verify(token)
    assert claims["sub"] == "gamora"
    wrong = JwtVerifier(secret=secret[::-1], issuer="cmu.edu", allowed_subjects={"gamora"})
    with pytest.raises(Exception):  # noqa: B017 - TokenRejected: wrong key
        wrong.verify(token)
