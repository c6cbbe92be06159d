"""oneid: customers, the identity graph (nodes and links), order owners, merges, the review queue
and matching settings

Revision ID: 20261123_0004
Revises: 20261123_0003
Create Date: 2026-11-23 22:42:52
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import haina.core.database

revision: str = "20261123_0004"
down_revision: str | None = "20261123_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "customer_merges",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("survivor_id", sa.String(length=32), nullable=False),
        sa.Column("absorbed_id", sa.String(length=32), nullable=False),
        sa.Column("rule", sa.String(length=40), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("link_id", sa.String(length=32), nullable=True),
        sa.Column("actor_id", sa.String(length=32), nullable=True),
        sa.Column("actor_name", sa.String(length=100), nullable=False),
        sa.Column("survivor_node_ids", sa.JSON(), nullable=False),
        sa.Column("absorbed_node_ids", sa.JSON(), nullable=False),
        sa.Column("created_at", haina.core.database.UTCDateTime(timezone=True), nullable=False),
        sa.Column("undone_at", haina.core.database.UTCDateTime(timezone=True), nullable=True),
        sa.Column("undone_by_id", sa.String(length=32), nullable=True),
        sa.Column("undone_by_name", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_customer_merges")),
    )
    with op.batch_alter_table("customer_merges", schema=None) as batch_op:
        batch_op.create_index(
            "ix_customer_merges_tenant_id_absorbed_id", ["tenant_id", "absorbed_id"], unique=False
        )
        batch_op.create_index(
            "ix_customer_merges_tenant_id_survivor_id", ["tenant_id", "survivor_id"], unique=False
        )

    op.create_table(
        "customers",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("merged_into_id", sa.String(length=32), nullable=True),
        sa.Column("display_name", sa.String(length=100), nullable=False),
        sa.Column("phone_masked", sa.String(length=32), nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("node_count", sa.BigInteger(), nullable=False),
        sa.Column("created_at", haina.core.database.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", haina.core.database.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_customers")),
    )
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.create_index(
            "ix_customers_tenant_id_status_created_at", ["tenant_id", "status", "created_at"], unique=False
        )

    op.create_table(
        "identity_links",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("node_a", sa.String(length=32), nullable=False),
        sa.Column("node_b", sa.String(length=32), nullable=False),
        sa.Column("rule", sa.String(length=40), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("evidence_type", sa.String(length=16), nullable=False),
        sa.Column("evidence_id", sa.String(length=64), nullable=False),
        sa.Column("evidence_count", sa.BigInteger(), nullable=False),
        sa.Column("decided_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", haina.core.database.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", haina.core.database.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_identity_links")),
    )
    with op.batch_alter_table("identity_links", schema=None) as batch_op:
        batch_op.create_index("ix_identity_links_tenant_id_node_a", ["tenant_id", "node_a"], unique=False)
        batch_op.create_index("ix_identity_links_tenant_id_node_b", ["tenant_id", "node_b"], unique=False)

    op.create_table(
        "identity_nodes",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.Column("scope", sa.String(length=128), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("display", sa.String(length=128), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("value_encrypted", sa.String(length=400), nullable=True),
        sa.Column("customer_id", sa.String(length=32), nullable=True),
        sa.Column("is_blocked", sa.Boolean(), nullable=False),
        sa.Column("blocked_reason", sa.String(length=255), nullable=False),
        sa.Column("created_at", haina.core.database.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", haina.core.database.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_identity_nodes")),
        sa.UniqueConstraint(
            "tenant_id", "kind", "value", name=op.f("uq_identity_nodes_tenant_id_kind_value")
        ),
    )
    with op.batch_alter_table("identity_nodes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_identity_nodes_tenant_id_customer_id", ["tenant_id", "customer_id"], unique=False
        )

    op.create_table(
        "identity_reviews",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("node_a", sa.String(length=32), nullable=False),
        sa.Column("node_b", sa.String(length=32), nullable=False),
        sa.Column("link_id", sa.String(length=32), nullable=False),
        sa.Column("rule", sa.String(length=40), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decided_by_id", sa.String(length=32), nullable=True),
        sa.Column("decided_by_name", sa.String(length=100), nullable=False),
        sa.Column("decided_at", haina.core.database.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", haina.core.database.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_identity_reviews")),
        sa.UniqueConstraint(
            "tenant_id", "node_a", "node_b", name=op.f("uq_identity_reviews_tenant_id_node_a_node_b")
        ),
    )
    with op.batch_alter_table("identity_reviews", schema=None) as batch_op:
        batch_op.create_index(
            "ix_identity_reviews_tenant_id_status_created_at",
            ["tenant_id", "status", "created_at"],
            unique=False,
        )

    op.create_table(
        "identity_settings",
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("auto_merge_threshold", sa.Float(), nullable=False),
        sa.Column("review_threshold", sa.Float(), nullable=False),
        sa.Column("max_cluster_nodes", sa.BigInteger(), nullable=False),
        sa.Column("max_accounts_per_key", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", haina.core.database.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_identity_settings")),
    )
    op.create_table(
        "order_owners",
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("order_id", sa.String(length=32), nullable=False),
        sa.Column("node_id", sa.String(length=32), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "order_id", name=op.f("pk_order_owners")),
    )
    with op.batch_alter_table("order_owners", schema=None) as batch_op:
        batch_op.create_index(
            "ix_order_owners_tenant_id_customer_id", ["tenant_id", "customer_id"], unique=False
        )
        batch_op.create_index("ix_order_owners_tenant_id_node_id", ["tenant_id", "node_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("order_owners", schema=None) as batch_op:
        batch_op.drop_index("ix_order_owners_tenant_id_node_id")
        batch_op.drop_index("ix_order_owners_tenant_id_customer_id")

    op.drop_table("order_owners")
    op.drop_table("identity_settings")
    with op.batch_alter_table("identity_reviews", schema=None) as batch_op:
        batch_op.drop_index("ix_identity_reviews_tenant_id_status_created_at")

    op.drop_table("identity_reviews")
    with op.batch_alter_table("identity_nodes", schema=None) as batch_op:
        batch_op.drop_index("ix_identity_nodes_tenant_id_customer_id")

    op.drop_table("identity_nodes")
    with op.batch_alter_table("identity_links", schema=None) as batch_op:
        batch_op.drop_index("ix_identity_links_tenant_id_node_b")
        batch_op.drop_index("ix_identity_links_tenant_id_node_a")

    op.drop_table("identity_links")
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_index("ix_customers_tenant_id_status_created_at")

    op.drop_table("customers")
    with op.batch_alter_table("customer_merges", schema=None) as batch_op:
        batch_op.drop_index("ix_customer_merges_tenant_id_survivor_id")
        batch_op.drop_index("ix_customer_merges_tenant_id_absorbed_id")

    op.drop_table("customer_merges")
