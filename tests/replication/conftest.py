"""A MariaDB primary + GTID replica for the whole session (one pair per xdist worker; the
tests share the `replication` xdist group so one worker usually runs them all)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

import pytest

from tests.fixtures.replication import ReplicationPair

_counter = itertools.count()


@pytest.fixture(scope="session")
def replication_pair() -> Iterator[ReplicationPair]:
    with ReplicationPair() as pair:  # stops both servers, also when a test failed
        yield pair


@pytest.fixture
def replicated_database(replication_pair: ReplicationPair, worker_id: str) -> Iterator[tuple[str, str]]:
    """A fresh database on the primary (replicated): its (writer URL, reader URL). Afterwards
    the pair is healed (servers restarted, replication resumed) for the next test."""
    name = f"bst_r{worker_id}_{os.getpid()}_{next(_counter)}"
    try:
        yield replication_pair.create_database(name)
    finally:
        replication_pair.heal()
        replication_pair.primary.execute(f"DROP DATABASE IF EXISTS `{name}`")
