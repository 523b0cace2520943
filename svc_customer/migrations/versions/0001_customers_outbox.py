"""customers and outbox tables

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Binary collation: every comparison is decided in Python (user_id_key), the same on SQLite.
MYSQL_TABLE = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}
# SQLite: INTEGER PRIMARY KEY (a rowid alias); BIGINT on MySQL.
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.String(255), nullable=False),
        # Lower-cased NFC userId: lower() can lengthen a string (U+0130), hence 512.
        sa.Column("user_id_key", sa.String(512), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("phone", sa.String(255), nullable=False),
        sa.Column("address", sa.String(255), nullable=False),
        sa.Column("address2", sa.String(255), nullable=True),
        sa.Column("city", sa.String(255), nullable=False),
        sa.Column("state", sa.String(2), nullable=False),
        sa.Column("zipcode", sa.String(255), nullable=False),
        sa.UniqueConstraint("user_id_key", name="uq_customers_user_id_key"),
        # AUTOINCREMENT: SQLite never reuses the id of a deleted customer (InnoDB does not either).
        sqlite_autoincrement=True,
        **MYSQL_TABLE,
    )
    op.create_table(
        "outbox",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("topic", sa.String(255), nullable=False),
        sa.Column("msg_key", sa.String(255), nullable=True),
        sa.Column(
            "payload", sa.LargeBinary().with_variant(mysql.LONGBLOB(), "mysql"), nullable=False
        ),
        sa.Column("headers", sa.Text(), nullable=False),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("sent_at_ms", sa.BigInteger(), nullable=True),
        sa.UniqueConstraint("event_id", name="uq_outbox_event_id"),
        sqlite_autoincrement=True,
        **MYSQL_TABLE,
    )
    op.create_index("ix_outbox_sent_at_ms_id", "outbox", ["sent_at_ms", "id"])


def downgrade() -> None:
    op.drop_table("outbox")
    op.drop_table("customers")
