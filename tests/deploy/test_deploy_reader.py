"""The manifests take each service's RDS reader endpoint, and deploy.sh the routing settings
(the reader URLs in the Secrets: tests/deploy/test_deploy_infra.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.deploy.deploy_script import VERSION, deploy_env, fake_tools, run_script
from tests.deploy.k8s import KUBECTL, ROOT, config_data, containers, find, pod_spec, render

__all__ = ["fake_tools"]  # the fixture, imported for the tests below

pytestmark = pytest.mark.slow  # every test runs kubectl or deploy.sh


@pytest.mark.skipif(KUBECTL is None, reason="kubectl (kustomize) not installed")
def test_the_services_read_the_reader_url_from_their_secret_optionally() -> None:
    resources = render(ROOT / "manifests" / "overlays" / "eks")
    for deployment, secret in (("svc-book", "svc-book-db"), ("svc-customer", "svc-customer-db")):
        (container,) = containers(pod_spec(find(resources, "Deployment", deployment)))
        env = {var["name"]: var for var in container["env"]}
        ref = env["DATABASE_READ_URL"]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": secret, "key": "DATABASE_READ_URL", "optional": True}
    assert config_data(resources)["READ_MAX_LAG_S"] == "1"


def test_routing_settings_pass_through_to_the_configmap(
    fake_tools: tuple[Path, Path], tmp_path: Path
) -> None:
    bin_dir, _calls = fake_tools
    work = tmp_path / "work"
    env = deploy_env(DEPLOY_WORKDIR=str(work), READ_MAX_LAG_S="2.5", DB_HEALTH_INTERVAL_S="1")
    result = run_script(["--dry-run", "--version", VERSION], env, bin_dir)
    assert result.returncode == 0, result.stderr
    config = (work / "config.env").read_text()
    assert "READ_MAX_LAG_S=2.5" in config and "DB_HEALTH_INTERVAL_S=1" in config
