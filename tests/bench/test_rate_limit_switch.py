"""--rate-limits: the BFF cases once per mode, with the matching BFF settings."""

from __future__ import annotations

import pytest
from benchkit.cli import build_parser
from benchkit.journal import Journal
from benchkit.plan import BenchPlan, parse_rate_limit_modes
from benchkit.services import Services


def plan_for(*argv: str) -> BenchPlan:
    return BenchPlan.from_args(build_parser().parse_args(["--out", "/tmp/unused", *argv]))


def test_default_leaves_the_services_settings_alone() -> None:
    plan = plan_for()
    assert plan.rate_limit_modes == ["default"]
    assert plan.rate_limit_env() == {}


def test_each_mode_sets_the_bffs_storage() -> None:
    plan = plan_for("--rate-limits", "off,memory,redis", "--redis-url", "redis://127.0.0.1:1/3")
    assert plan.rate_limit_modes == ["off", "memory", "redis"]
    assert plan.rate_limit_env() == {"RATE_LIMIT_ENABLED": "false"}
    plan.rate_limit_mode = "memory"
    memory = plan.rate_limit_env()
    assert memory["RATE_LIMIT_STORAGE_URL"] == "memory://"
    assert memory["RATE_LIMIT_ENABLED"] == "true"
    plan.rate_limit_mode = "redis"
    redis = plan.rate_limit_env()
    assert redis["RATE_LIMIT_STORAGE_URL"] == "redis://127.0.0.1:1/3"
    assert redis["RATE_LIMIT_KEY_PREFIX"].startswith("bench-")
    # Only the BFFs get them; the budgets stay the (generous) defaults.
    services = Services(plan, Journal())
    env = services.service_env("bff_book", 1)
    assert env["RATE_LIMIT_STORAGE_URL"] == "redis://127.0.0.1:1/3"
    assert "RATE_LIMIT_READS" not in env
    assert not any(name.startswith("RATE_LIMIT") for name in services.service_env("svc_book", 1))


@pytest.mark.parametrize("spec", ["", "on", "memory,bogus"])
def test_unknown_modes_are_refused(spec: str) -> None:
    with pytest.raises(ValueError, match="--rate-limits"):
        parse_rate_limit_modes(spec)
