"""Full-text search: normalized search columns and their index (MariaDB FULLTEXT, SQLite FTS5)

`search_title` and `search_body` (Author + description) hold the words of svc_book.search
(normalized in Python, so both engines index the same words). MariaDB: one FULLTEXT index over
both columns answers the match, one over the title alone gives the rank. SQLite: an FTS5 table
with the books table as its external content, kept in sync by triggers in the writing
transaction.

SQLite caveat for later migrations: the FTS5 rows are keyed by the books table's rowid, and a
batch migration that rebuilds `books` (copy, drop, rename) drops the triggers and may renumber
rowids: such a migration must recreate the triggers (create_sqlite_search below) and rebuild the
index. So must a VACUUM, which may renumber rowids too.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from svc_book.search import index_text

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SQLITE_TRIGGERS = (
    """CREATE TRIGGER books_search_insert AFTER INSERT ON books BEGIN
         INSERT INTO books_fts (rowid, search_title, search_body)
         VALUES (new.rowid, new.search_title, new.search_body);
       END""",
    """CREATE TRIGGER books_search_delete AFTER DELETE ON books BEGIN
         INSERT INTO books_fts (books_fts, rowid, search_title, search_body)
         VALUES ('delete', old.rowid, old.search_title, old.search_body);
       END""",
    """CREATE TRIGGER books_search_update AFTER UPDATE OF search_title, search_body ON books
       BEGIN
         INSERT INTO books_fts (books_fts, rowid, search_title, search_body)
         VALUES ('delete', old.rowid, old.search_title, old.search_body);
         INSERT INTO books_fts (rowid, search_title, search_body)
         VALUES (new.rowid, new.search_title, new.search_body);
       END""",
)


def create_sqlite_search() -> None:
    # remove_diacritics 0: the text is folded already; FTS5 sees words separated by spaces.
    op.execute(
        "CREATE VIRTUAL TABLE books_fts USING fts5(search_title, search_body, "
        "content='books', content_rowid='rowid', tokenize='unicode61 remove_diacritics 0')"
    )
    for trigger in SQLITE_TRIGGERS:
        op.execute(trigger)
    op.execute("INSERT INTO books_fts (books_fts) VALUES ('rebuild')")


def upgrade() -> None:
    bind = op.get_bind()
    for column in ("search_title", "search_body"):
        # TEXT holds 64 KB: the body is at most 255 + 10,000 characters of words.
        op.add_column("books", sa.Column(column, sa.Text(), nullable=False, server_default=""))
    rows = bind.execute(sa.text(
        "SELECT isbn, title, author, description FROM books"
    )).mappings().all()
    update = sa.text(
        "UPDATE books SET search_title = :title, search_body = :body WHERE isbn = :isbn"
    )
    for row in rows:
        bind.execute(
            update,
            {"title": index_text(row["title"]),
             "body": index_text(row["author"], row["description"]), "isbn": row["isbn"]},
        )
    if bind.dialect.name == "sqlite":
        create_sqlite_search()
    else:
        op.execute("CREATE FULLTEXT INDEX ft_books_search ON books (search_title, search_body)")
        op.execute("CREATE FULLTEXT INDEX ft_books_title ON books (search_title)")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for trigger in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS books_search_{trigger}")
        op.execute("DROP TABLE IF EXISTS books_fts")
    else:
        op.drop_index("ft_books_title", table_name="books")
        op.drop_index("ft_books_search", table_name="books")
    with op.batch_alter_table("books") as batch:
        batch.drop_column("search_body")
        batch.drop_column("search_title")
