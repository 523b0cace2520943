"""customers.etag (conditional requests) and idempotency_keys (Idempotency-Key on POST /customers)

`etag` is the tag of the stored document (libcommon.conditional.resource_tag: BLAKE2b-128 of
`doc`, hex; the id is not in `doc` and never changes), written in the same statement as `doc`,
so PUT/DELETE with If-Match check and write in one statement. Nullable so SQLite needs no table
rebuild; every writer sets it and this migration fills existing rows.

Revision ID: 0004
Revises: 0003
"""

import hashlib

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# Keys compare byte for byte (case-sensitive).
MYSQL_TABLE = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}
BODY_TYPE = sa.LargeBinary().with_variant(mysql.MEDIUMBLOB(), "mysql")


def _tag(doc: bytes) -> str:
    # Frozen copy of libcommon.conditional.resource_tag (tests check they agree).
    return hashlib.blake2b(doc, digest_size=16).hexdigest()


def upgrade() -> None:
    op.add_column("customers", sa.Column("etag", sa.String(32), nullable=True))
    bind = op.get_bind()
    for row in bind.execute(sa.text("SELECT id, doc FROM customers")).mappings().all():
        bind.execute(sa.text("UPDATE customers SET etag = :etag WHERE id = :id"),
                     {"etag": _tag(bytes(row["doc"])), "id": row["id"]})
    op.create_table(
        "idempotency_keys",
        sa.Column("idem_key", sa.String(255), primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("body", BODY_TYPE, nullable=True),
        sa.Column("path", sa.String(512), nullable=True),
        sa.Column("tag", sa.String(32), nullable=True),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        **MYSQL_TABLE,
    )
    op.create_index("ix_idempotency_keys_created", "idempotency_keys", ["created_at_ms"])


def downgrade() -> None:
    op.drop_table("idempotency_keys")
    op.drop_column("customers", "etag")
