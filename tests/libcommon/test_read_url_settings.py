"""DATABASE_READ_URL: optional, checked at start, ignored by SQLite."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from libcommon.db.routing import RoutedDatabase
from libcommon.dbapp import open_database
from libcommon.settings import DatabaseSettings, describe_error

MYSQL = "mysql+aiomysql://app:pw@writer.internal:3306/books"
READER = "mysql+aiomysql://app:pw@reader.internal:3306/books"


def test_unset_or_empty_means_no_reader() -> None:
    assert DatabaseSettings(database_url=MYSQL).reader_url() is None
    assert DatabaseSettings(database_url=MYSQL, database_read_url="").reader_url() is None
    assert DatabaseSettings(database_url=MYSQL, database_read_url=READER).reader_url() == READER


@pytest.mark.parametrize("url", [
    "reader.internal:3306/books",  # no scheme
    "postgresql://app:pw@reader.internal/books",
    "sqlite+aiosqlite:///var/books.db",
    "mysql+aiomysql://app:pw@reader.internal:3306/",  # no database
])
def test_a_malformed_reader_url_is_one_error_naming_it(url: str) -> None:
    with pytest.raises(ValidationError) as info:
        DatabaseSettings(database_url=MYSQL, database_read_url=url)
    assert describe_error(info.value).startswith("DATABASE_READ_URL: ")


async def test_sqlite_ignores_the_reader(tmp_path: Path) -> None:
    settings = DatabaseSettings(database_url=f"sqlite+aiosqlite:///{tmp_path}/x.db",
                                database_read_url=READER)
    assert settings.reader_url() is None
    db = await open_database("svc_book", settings)
    try:
        assert not isinstance(db, RoutedDatabase)
        assert db.point_reads is db and db.list_reads is db
    finally:
        await db.close()
