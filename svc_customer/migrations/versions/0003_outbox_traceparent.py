"""outbox.traceparent: the W3C trace context of the transaction that wrote the event

The relay publishes the row in a span whose parent is this context, so the Kafka record (and
the CRM's work on it) belong to the registration's trace although they happen later, in
another task. NULL when tracing was off.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # version-traceid-parentid-flags: 2 + 1 + 32 + 1 + 16 + 1 + 2 = 55 characters.
    op.add_column("outbox", sa.Column("traceparent", sa.String(55), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("traceparent")
