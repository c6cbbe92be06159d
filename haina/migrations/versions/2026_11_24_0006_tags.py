"""tags: tags and groups, customer tags and their changes, rule evaluations, WeCom mirrors, segments, RFM scores and lifecycle days

Revision ID: 20261124_0006
Revises: 20261123_0005
Create Date: 2026-11-24 01:32:04.628184
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import haina.core.database

revision: str = "20261124_0006"
down_revision: str | None = "20261123_0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "customer_scores",
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("recency_days", sa.BigInteger(), nullable=True),
        sa.Column("frequency", sa.BigInteger(), nullable=False),
        sa.Column("monetary_fen", sa.BigInteger(), nullable=False),
        sa.Column("recency_score", sa.BigInteger(), nullable=False),
        sa.Column("frequency_score", sa.BigInteger(), nullable=False),
        sa.Column("monetary_score", sa.BigInteger(), nullable=False),
        sa.Column("first_order_at", haina.core.database.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_order_at", haina.core.database.UTCDateTime(timezone=True), nullable=True),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("stage_since", haina.core.database.UTCDateTime(timezone=True), nullable=False),
        sa.Column("computed_at", haina.core.database.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "customer_id", name=op.f("pk_customer_scores")),
    )
    with op.batch_alter_table("customer_scores", schema=None) as batch_op:
        batch_op.create_index("ix_customer_scores_tenant_id_stage", ["tenant_id", "stage"], unique=False)

    op.create_table(
        "customer_tags",
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("tag_id", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("origin_customer_id", sa.String(length=32), nullable=True),
        sa.Column("added_at", haina.core.database.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "customer_id", "tag_id", name=op.f("pk_customer_tags")),
    )
    with op.batch_alter_table("customer_tags", schema=None) as batch_op:
        batch_op.create_index(
            "ix_customer_tags_tenant_id_tag_id_customer_id",
            ["tenant_id", "tag_id", "customer_id"],
            unique=False,
        )

    op.create_table(
        "lifecycle_days",
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("from_stage", sa.String(length=16), nullable=False),
        sa.Column("to_stage", sa.String(length=16), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "day", "from_stage", "to_stage", name=op.f("pk_lifecycle_days")),
    )
    op.create_table(
        "rfm_settings",
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("window_days", sa.BigInteger(), nullable=False),
        sa.Column("band_method", sa.String(length=16), nullable=False),
        sa.Column("recency_bounds", sa.JSON(), nullable=False),
        sa.Column("frequency_bounds", sa.JSON(), nullable=False),
        sa.Column("monetary_bounds", sa.JSON(), nullable=False),
        sa.Column("new_days", sa.BigInteger(), nullable=False),
        sa.Column("active_days", sa.BigInteger(), nullable=False),
        sa.Column("at_risk_days", sa.BigInteger(), nullable=False),
        sa.Column("dormant_days", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", haina.core.database.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_rfm_settings")),
    )
    op.create_table(
        "segments",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", haina.core.database.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", haina.core.database.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_count", sa.BigInteger(), nullable=True),
        sa.Column("counted_at", haina.core.database.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_segments")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_segments_tenant_id_name")),
    )
    op.create_table(
        "tag_changes",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("tag_id", sa.String(length=32), nullable=False),
        sa.Column("tag_name", sa.String(length=30), nullable=False),
        sa.Column("action", sa.String(length=8), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("at", haina.core.database.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_tag_changes")),
    )
    with op.batch_alter_table("tag_changes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_tag_changes_tenant_id_customer_id_at", ["tenant_id", "customer_id", "at"], unique=False
        )
        batch_op.create_index(
            "ix_tag_changes_tenant_id_tag_id_at", ["tenant_id", "tag_id", "at"], unique=False
        )

    op.create_table(
        "tag_evaluations",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("tag_id", sa.String(length=32), nullable=False),
        sa.Column("rule_version", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("done", sa.BigInteger(), nullable=False),
        sa.Column("added", sa.BigInteger(), nullable=False),
        sa.Column("removed", sa.BigInteger(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("requested_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", haina.core.database.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", haina.core.database.UTCDateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", haina.core.database.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", haina.core.database.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_tag_evaluations")),
    )
    with op.batch_alter_table("tag_evaluations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_tag_evaluations_tenant_id_tag_id_created_at",
            ["tenant_id", "tag_id", "created_at"],
            unique=False,
        )

    op.create_table(
        "tag_groups",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=30), nullable=False),
        sa.Column("order", sa.BigInteger(), nullable=False),
        sa.Column("is_deleted", sa.Boolean(), nullable=False),
        sa.Column("created_at", haina.core.database.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", haina.core.database.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_tag_groups")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_tag_groups_tenant_id_name")),
    )
    op.create_table(
        "tag_mirrors",
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("connection_id", sa.String(length=32), nullable=False),
        sa.Column("tag_id", sa.String(length=32), nullable=False),
        sa.Column("corp_id", sa.String(length=64), nullable=False),
        sa.Column("wecom_tag_id", sa.String(length=64), nullable=False),
        sa.Column("wecom_group_id", sa.String(length=64), nullable=False),
        sa.Column("synced_at", haina.core.database.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "connection_id", "tag_id", name=op.f("pk_tag_mirrors")),
        sa.UniqueConstraint(
            "tenant_id",
            "connection_id",
            "wecom_tag_id",
            name=op.f("uq_tag_mirrors_tenant_id_connection_id_wecom_tag_id"),
        ),
    )
    op.create_table(
        "tags",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("group_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=30), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("rule", sa.JSON(), nullable=True),
        sa.Column("rule_version", sa.BigInteger(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("order", sa.BigInteger(), nullable=False),
        sa.Column("is_deleted", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", haina.core.database.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", haina.core.database.UTCDateTime(timezone=True), nullable=False),
        sa.Column("customer_count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_tags")),
        sa.UniqueConstraint("tenant_id", "group_id", "name", name=op.f("uq_tags_tenant_id_group_id_name")),
    )


def downgrade() -> None:

    op.drop_table("tags")
    op.drop_table("tag_mirrors")
    op.drop_table("tag_groups")
    with op.batch_alter_table("tag_evaluations", schema=None) as batch_op:
        batch_op.drop_index("ix_tag_evaluations_tenant_id_tag_id_created_at")

    op.drop_table("tag_evaluations")
    with op.batch_alter_table("tag_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_tag_changes_tenant_id_tag_id_at")
        batch_op.drop_index("ix_tag_changes_tenant_id_customer_id_at")

    op.drop_table("tag_changes")
    op.drop_table("segments")
    op.drop_table("rfm_settings")
    op.drop_table("lifecycle_days")
    with op.batch_alter_table("customer_tags", schema=None) as batch_op:
        batch_op.drop_index("ix_customer_tags_tenant_id_tag_id_customer_id")

    op.drop_table("customer_tags")
    with op.batch_alter_table("customer_scores", schema=None) as batch_op:
        batch_op.drop_index("ix_customer_scores_tenant_id_stage")

    op.drop_table("customer_scores")
