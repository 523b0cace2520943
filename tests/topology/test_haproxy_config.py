"""The load balancer's configuration (the cluster's NLBs and Services, stood in for by HAProxy)."""

from __future__ import annotations

import os
import subprocess

import pytest
from topology.cluster import HAPROXY_CFG, TIERS, Ports


@pytest.mark.slow  # runs haproxy -c
def test_the_load_balancer_config_is_valid_and_checks_readiness() -> None:
    env = {**os.environ, **Ports.allocate().haproxy_env()}
    result = subprocess.run(["haproxy", "-c", "-f", str(HAPROXY_CFG)], env=env,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    text = HAPROXY_CFG.read_text()
    assert "option httpchk GET /ready" in text
    for tier in TIERS:
        assert f"listen {tier}" in text
