"""books table

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Binary collation: exact ISBN/author/genre matching and ISBN ordering identical to SQLite's.
MYSQL_TABLE = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}


def upgrade() -> None:
    op.create_table(
        "books",
        sa.Column("isbn", sa.String(20), primary_key=True),
        sa.Column("title", sa.String(255), nullable=False),
        sa.Column("author", sa.String(255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("genre", sa.String(100), nullable=False),
        # DECIMAL on MySQL; TEXT on SQLite, whose NUMERIC affinity would turn it into a float.
        sa.Column("price", sa.Numeric(10, 2).with_variant(sa.Text(), "sqlite"), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        **MYSQL_TABLE,
    )
    op.create_index("ix_books_author", "books", ["author"])
    op.create_index("ix_books_genre", "books", ["genre"])


def downgrade() -> None:
    op.drop_table("books")
