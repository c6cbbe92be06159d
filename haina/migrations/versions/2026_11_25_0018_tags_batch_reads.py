"""tags batch reads: on PostgreSQL the key of customer_tags includes `source`, so a batch run reads
every carrier's tag and source in customer order from the index alone; tags.customer_count
dropped (batch runs wrote it, nothing read it: the console and the API count carriers live)

Revision ID: 20261125_0018
Revises: 20261124_0017
Create Date: 2026-11-25 04:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261125_0018"
down_revision: str | None = "20261124_0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY = "tenant_id, customer_id, tag_id"


def upgrade() -> None:
    with op.batch_alter_table("tags") as batch:
        batch.drop_column("customer_count")
    if op.get_bind().dialect.name == "postgresql":  # SQLite keeps the plain key: INCLUDE is PostgreSQL's
        op.execute(
            "ALTER TABLE customer_tags DROP CONSTRAINT pk_customer_tags,"
            f" ADD CONSTRAINT pk_customer_tags PRIMARY KEY ({KEY}) INCLUDE (source)"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE customer_tags DROP CONSTRAINT pk_customer_tags,"
            f" ADD CONSTRAINT pk_customer_tags PRIMARY KEY ({KEY})"
        )
    with op.batch_alter_table("tags") as batch:
        batch.add_column(sa.Column("customer_count", sa.BigInteger(), nullable=False, server_default="0"))
