"""The database adapters' Prometheus series (exported only by processes that open a database)."""

from __future__ import annotations

from prometheus_client import Histogram

# Time a statement or transaction waited for a connection: MySQL's FIFO slot plus the pool's
# acquire (a new connection's connect time included), SQLite's one-connection lock. Per
# process; `job` tells the services apart.
DB_POOL_WAIT = Histogram(
    "db_pool_wait_seconds",
    "Time spent waiting for a database connection",
    buckets=(0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
