"""Reading a replica's lag from its status rows (MariaDB and MySQL column names)."""

from __future__ import annotations

from libcommon.db.lag import lag_of


def test_a_server_that_replicates_from_nobody_has_no_lag() -> None:
    assert lag_of([]) == 0.0  # an Aurora reader, or the writer itself


def test_running_replication_reports_seconds_behind() -> None:
    mariadb = {"Slave_IO_Running": "Yes", "Slave_SQL_Running": "Yes", "Seconds_Behind_Master": 3}
    mysql = {"Replica_IO_Running": "Yes", "Replica_SQL_Running": "Yes", "Seconds_Behind_Source": 0}
    assert lag_of([mariadb]) == 3.0
    assert lag_of([mysql]) == 0.0
    assert lag_of([mysql, mariadb]) == 3.0  # multi-source: the worst


def test_stopped_or_broken_replication_has_unknown_lag() -> None:
    sql_stopped = {"Slave_IO_Running": "Yes", "Slave_SQL_Running": "No", "Seconds_Behind_Master": None}
    reconnecting = {"Slave_IO_Running": "Connecting", "Slave_SQL_Running": "Yes",
                    "Seconds_Behind_Master": None}
    # Threads said to run but no figure: unknown too, never taken for "fresh".
    no_figure = {"Slave_IO_Running": "Yes", "Slave_SQL_Running": "Yes", "Seconds_Behind_Master": None}
    for row in (sql_stopped, reconnecting, no_figure):
        assert lag_of([row]) is None
