"""What a MySQL error says about the server: its error code, and whether it is unreachable.

The adapters raise our own errors (base.py) chained to the driver's; routing decisions need
the driver's error code, read here from the chained cause.
"""

from __future__ import annotations

import pymysql

from libcommon.db.base import DatabaseError

# Can't connect, server gone away, lost connection, lost connection during handshake, server
# shutting down, connection killed, disconnected for inactivity.
_UNREACHABLE_CODES = frozenset({2003, 2006, 2013, 2055, 1053, 1927, 4031})
# The account or the database named in the URL does not exist or may not log in: a wrong URL.
WRONG_URL_CODES = frozenset({1044, 1045, 1049, 1698})


def server_error_code(exc: DatabaseError) -> int | None:
    """The server's (or client library's) MySQL error number, when there is one."""
    cause = exc.__cause__
    if isinstance(cause, pymysql.err.MySQLError) and cause.args and isinstance(cause.args[0], int):
        return cause.args[0]
    return None


def server_unreachable(exc: DatabaseError) -> bool:
    """The server cannot be reached or dropped the connection (as opposed to refusing one
    statement: a lock wait, a duplicate key, too many connections)."""
    cause = exc.__cause__
    if isinstance(cause, (OSError, TimeoutError, pymysql.err.InterfaceError)):
        return True
    return server_error_code(exc) in _UNREACHABLE_CODES


def error_text(exc: DatabaseError) -> str:
    """`1045 Access denied for user ...`: the server's words, for a log line."""
    cause = exc.__cause__
    args: tuple[object, ...] = tuple(getattr(cause, "args", ()))
    if len(args) > 1:
        return f"{args[0]} {args[1]}"
    return str(exc) or type(exc).__name__
