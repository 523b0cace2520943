"""A thin database interface over aiomysql and aiosqlite.

SQL is written once with `%s` placeholders; the SQLite adapter translates. Rows come back as
dicts. SQLAlchemy stays off the request path (it halves point-SELECT throughput here); it is
used only by Alembic migrations.
"""

from libcommon.db.base import (
    Database,
    DatabaseError,
    DatabaseUnavailable,
    DuplicateKeyError,
    ExecResult,
    Executor,
    Row,
)
from libcommon.db.factory import connect
from libcommon.db.url import DatabaseUrl, parse_database_url

__all__ = [
    "Database",
    "DatabaseError",
    "DatabaseUnavailable",
    "DatabaseUrl",
    "DuplicateKeyError",
    "ExecResult",
    "Executor",
    "Row",
    "connect",
    "parse_database_url",
]
