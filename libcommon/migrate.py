"""Alembic migrations for the packages that own tables.

Each owning package has `<package>/migrations/` (env.py calling `run_env()`, `versions/`);
the owning packages are discovered (siblings of `libcommon` with such a folder), not listed.
Run one package's migrations against `DATABASE_URL`:

    python -m libcommon.migrate svc_book            # upgrade to head
    python -m libcommon.migrate svc_customer --url mysql+aiomysql://...
"""

from __future__ import annotations

import argparse
import importlib
import os
from pathlib import Path

from alembic import command
from alembic.config import Config

from libcommon.db.url import parse_database_url


def packages_with_migrations(root: Path | None = None) -> list[str]:
    """The top-level packages next to libcommon (or in `root`) that own migrations."""
    base = root if root is not None else Path(__file__).resolve().parent.parent
    return sorted(
        entry.name
        for entry in base.iterdir()
        if entry.name.isidentifier()
        and (entry / "__init__.py").is_file()
        and (entry / "migrations" / "env.py").is_file()
        and (entry / "migrations" / "versions").is_dir()
    )


def sync_url(url: str) -> str:
    """The same database through a synchronous driver, for Alembic."""
    scheme, _sep, rest = url.partition("://")
    dialect = scheme.split("+", 1)[0]
    if dialect == "sqlite":
        return f"sqlite://{rest}"
    if dialect in ("mysql", "mariadb"):
        return f"mysql+pymysql://{rest}"
    raise ValueError(f"unsupported database dialect {dialect!r}")


def alembic_config(package: str, url: str) -> Config:
    module = importlib.import_module(package)
    assert module.__file__ is not None
    config = Config()
    config.set_main_option("script_location", str(Path(module.__file__).parent / "migrations"))
    # Passed as attributes: set_main_option would %-interpolate passwords.
    config.attributes["url"] = sync_url(url)
    config.attributes["version_table"] = f"alembic_version_{package}"
    return config


def migrate_sync(package: str, url: str, revision: str = "head") -> None:
    parsed = parse_database_url(url)
    if parsed.dialect == "sqlite" and parsed.path != ":memory:":
        Path(parsed.path).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(package, url), revision)


def run_env() -> None:
    """Body of every package's migrations/env.py (online mode only)."""
    from alembic import context
    from sqlalchemy import create_engine, pool

    config = context.config
    url = config.attributes.get("url") or sync_url(os.environ["DATABASE_URL"])
    version_table = config.attributes.get("version_table", "alembic_version")
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            version_table=version_table,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description="Apply a package's database migrations.")
    parser.add_argument("package", choices=packages_with_migrations())
    parser.add_argument("revision", nargs="?", default="head")
    parser.add_argument("--url", default=os.environ.get("DATABASE_URL"))
    args = parser.parse_args()
    if not args.url:
        parser.error("set DATABASE_URL or pass --url")
    migrate_sync(args.package, args.url, args.revision)
    print(f"{args.package}: migrated to {args.revision}")


if __name__ == "__main__":
    main()
