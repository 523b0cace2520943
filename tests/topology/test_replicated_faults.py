"""Two replicas of every tier behind HAProxy, real MariaDB primary + replica, real broker: faults
injected under a steady load, with short windows (the long run is scripts/run_topology.py, its
results in docs/RELIABILITY.md). Every scenario must keep its invariants: acknowledged writes in
the database, one welcome e-mail per registered customer, no other process restarted."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from topology.cluster import Topology
from topology.scenarios import SCENARIOS, Outcome, Timing, run_scenario

pytestmark = [pytest.mark.slow, pytest.mark.mariadb, pytest.mark.kafka, pytest.mark.timeout(420),
              pytest.mark.asyncio(loop_scope="module"),
              # One topology for the module: every test of it on the same xdist worker.
              pytest.mark.xdist_group("topology")]

TIMING = Timing(warmup_s=2.0, fault_s=3.0, recovery_s=3.0, rate_per_s=20.0, mail_wait_s=45.0)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def topology(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Topology]:
    var_dir: Path = tmp_path_factory.mktemp("topology")
    cluster = Topology(var_dir)
    try:
        await cluster.start()
        yield cluster
    finally:
        await cluster.stop()


async def scenario(topology: Topology, name: str) -> Outcome:
    inject, lift, touched, mix = SCENARIOS[name]()
    outcome = await run_scenario(topology, name, inject, lift, touched, TIMING, mix)
    print(outcome.row())
    return outcome


@pytest.mark.parametrize("name", ["kill-bff-book", "kill-bff-customer", "kill-svc-book",
                                  "kill-svc-customer"])
async def test_kill_9_of_one_replica_costs_at_most_the_requests_in_flight(
        topology: Topology, name: str) -> None:
    outcome = await scenario(topology, name)
    assert outcome.invariants_hold, outcome
    assert outcome.failed_during <= 2, outcome  # HAProxy retries refused connections
    assert outcome.failed_after == 0, outcome
    assert outcome.customers > 0 and outcome.writes_acknowledged > 0


async def test_a_killed_crm_mails_every_registration_exactly_once_after_its_restart(
        topology: Topology) -> None:
    outcome = await scenario(topology, "kill-crm")
    assert outcome.invariants_hold, outcome
    assert outcome.failed_during == 0 and outcome.failed_after == 0, outcome
    assert outcome.customers >= 20


async def test_registrations_while_the_broker_is_down_are_mailed_once_it_is_back(
        topology: Topology) -> None:
    outcome = await scenario(topology, "stop-broker")
    assert outcome.invariants_hold, outcome
    assert outcome.failed_during == 0 and outcome.failed_after == 0, outcome


async def test_with_the_primary_database_down_reads_go_on_and_writes_get_a_quick_503(
        topology: Topology) -> None:
    outcome = await scenario(topology, "kill-primary-db")
    assert outcome.invariants_hold, outcome
    # Reads are served from the replica; only writes fail, each with a 503 (Retry-After),
    # answered within DB_CONNECT_TIMEOUT_S (2 s here) plus slack, never a hang or a 500.
    assert set(outcome.failures_during) <= {"post_book", "put_book", "post_customer"}, outcome
    assert all(set(by_status) == {503} for by_status in outcome.failures_during.values()), outcome
    assert outcome.longest_ms < 6000, outcome
    assert outcome.recovered_s is not None and outcome.recovered_s < 15, outcome


async def test_one_replicas_slow_engine_opens_only_its_own_circuit(topology: Topology) -> None:
    outcome = await scenario(topology, "slow-engine-one-replica")
    assert outcome.invariants_hold, outcome
    # The other replica keeps answering recommendations: successes throughout the fault.
    assert outcome.statuses.get(200, 0) > 0
    assert set(outcome.statuses) <= {200, 201, 204, 503, 504}, outcome
