"""How far a reader is behind its writer, asked of the reader itself.

`SHOW REPLICA STATUS` (MariaDB ≥ 10.5.1, MySQL ≥ 8.0.22; `SHOW SLAVE STATUS` before) gives
`Seconds_Behind_Master` (`Seconds_Behind_Source` in MySQL's new names). The account needs
SLAVE MONITOR (MariaDB ≥ 10.5) or REPLICATION CLIENT (MySQL), which the RDS master user has.
"""

from __future__ import annotations

from typing import Any

from libcommon.db.base import DatabaseError, Executor
from libcommon.db.errors import (
    WRONG_URL_CODES,
    error_text,
    server_error_code,
    server_unreachable,
)

# Syntax error: a server older than SHOW REPLICA STATUS.
_PARSE_ERROR = 1064
_LAG_COLUMNS = ("Seconds_Behind_Master", "Seconds_Behind_Source")
_THREAD_COLUMNS = (
    ("Slave_IO_Running", "Replica_IO_Running"),
    ("Slave_SQL_Running", "Replica_SQL_Running"),
)


class LagUnreadable(DatabaseError):
    """The reader answers but will not tell its lag (e.g. the account lacks the privilege)."""


def _column(row: dict[str, Any], names: tuple[str, ...]) -> Any:
    for name in names:
        if name in row:
            return row[name]
    return None


def lag_of(rows: list[dict[str, Any]]) -> float | None:
    """Seconds behind from replica status rows: 0.0 when the server replicates from nobody
    (an Aurora reader shares the writer's storage; or the "reader" is the writer itself), and
    None, unknown, when replication is stopped or broken: its data may be of any age."""
    if not rows:
        return 0.0
    worst = 0.0
    for row in rows:
        running = all(str(_column(row, names)) == "Yes" for names in _THREAD_COLUMNS)
        seconds = _column(row, _LAG_COLUMNS)
        if not running or seconds is None:
            return None
        worst = max(worst, float(seconds))
    return worst


async def read_replica_lag(reader: Executor) -> float | None:
    """The reader's lag in seconds (see `lag_of`).

    Raises DatabaseUnavailable when the reader cannot be reached, LagUnreadable when it
    answers but will not say.
    """
    try:
        try:
            rows = await reader.fetch_all("SHOW REPLICA STATUS")
        except DatabaseError as exc:
            if server_error_code(exc) != _PARSE_ERROR:
                raise
            rows = await reader.fetch_all("SHOW SLAVE STATUS")
    except DatabaseError as exc:
        code = server_error_code(exc)
        if code is None or code in WRONG_URL_CODES or server_unreachable(exc):
            raise
        raise LagUnreadable(error_text(exc)) from exc
    return lag_of(rows)
