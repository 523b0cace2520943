"""Parse SQLAlchemy-style DATABASE_URLs (no adapter imports: `factory` opens them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlsplit


@dataclass(frozen=True)
class DatabaseUrl:
    dialect: str  # "mysql" or "sqlite"
    host: str = "127.0.0.1"
    port: int = 3306
    user: str = ""
    password: str = ""
    database: str = ""
    path: str = ""  # SQLite file
    query: dict[str, str] = field(default_factory=dict)


def parse_database_url(url: str) -> DatabaseUrl:
    """`mysql+aiomysql://user:pw@host:port/db?unix_socket=...` or `sqlite+aiosqlite:///path`."""
    scheme, _, rest = url.partition("://")
    if not rest:
        raise ValueError("DATABASE_URL must look like mysql+aiomysql://... or sqlite+aiosqlite:///...")
    dialect = scheme.split("+", 1)[0]
    if dialect == "sqlite":
        # sqlite:///relative/path and sqlite:////absolute/path, as in SQLAlchemy.
        path = rest[1:] if rest.startswith("/") else rest
        path = path.split("?", 1)[0]
        if not path:
            raise ValueError("DATABASE_URL for SQLite needs a file path (or :memory:)")
        return DatabaseUrl(dialect="sqlite", path=unquote(path))
    if dialect in ("mysql", "mariadb"):
        parts = urlsplit(url)
        return DatabaseUrl(
            dialect="mysql",
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 3306,
            user=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            database=parts.path.lstrip("/"),
            query=dict(parse_qsl(parts.query)),
        )
    raise ValueError(f"unsupported database dialect {dialect!r} (use mysql or sqlite)")
