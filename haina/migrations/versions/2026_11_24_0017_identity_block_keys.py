"""identity_block_keys: the matcher's blocking keys per record, so incremental resolution finds
the candidates a rebuild would (fill it with `haina oneid rebuild`)

Revision ID: 20261124_0017
Revises: 20261124_0016
Create Date: 2026-11-24 18:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261124_0017"
down_revision: str | None = "20261124_0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "identity_block_keys",
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("node_id", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "node_id", "key", name=op.f("pk_identity_block_keys")),
    )
    op.create_index("ix_identity_block_keys_tenant_id_key", "identity_block_keys", ["tenant_id", "key"])


def downgrade() -> None:
    op.drop_index("ix_identity_block_keys_tenant_id_key", table_name="identity_block_keys")
    op.drop_table("identity_block_keys")
