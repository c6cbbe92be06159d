"""archive keyword alert notifications: per-tenant settings and one notification row per alert

Revision ID: 20261124_0012
Revises: 20261124_0011
Create Date: 2026-11-24 09:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import haina.core.database

revision: str = "20261124_0012"
down_revision: str | None = "20261124_0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "archive_alert_settings",
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("is_enabled", sa.Boolean(), nullable=False),
        sa.Column("agentid", sa.BigInteger(), nullable=True),
        sa.Column("supervisor_userids", sa.JSON(), nullable=False),
        sa.Column("notify_member", sa.Boolean(), nullable=False),
        sa.Column("rule_recipients", sa.JSON(), nullable=False),
        sa.Column("updated_at", haina.core.database.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_archive_alert_settings")),
    )
    op.create_table(
        "archive_alert_notifications",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("alert_id", sa.String(length=32), nullable=False),
        sa.Column("rule_id", sa.String(length=32), nullable=False),
        sa.Column("conversation_id", sa.String(length=32), nullable=False),
        sa.Column("staff_userid", sa.String(length=64), nullable=False),
        sa.Column("phrase", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("userids", sa.JSON(), nullable=False),
        sa.Column("invalid_userids", sa.JSON(), nullable=False),
        sa.Column("hit_count", sa.BigInteger(), nullable=False),
        sa.Column("error_code", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("sent_at", haina.core.database.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", haina.core.database.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["archive_keyword_alerts.id"],
            name=op.f("fk_archive_alert_notifications_alert_id_archive_keyword_alerts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_archive_alert_notifications")),
        sa.UniqueConstraint(
            "tenant_id", "alert_id", name=op.f("uq_archive_alert_notifications_tenant_id_alert_id")
        ),
    )
    op.create_index(
        "ix_archive_alert_notifications_conversation_rule",
        "archive_alert_notifications",
        ["tenant_id", "conversation_id", "rule_id", "created_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_archive_alert_notifications_tenant_id"),
        "archive_alert_notifications",
        ["tenant_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_archive_alert_notifications_tenant_id"), table_name="archive_alert_notifications")
    op.drop_index(
        "ix_archive_alert_notifications_conversation_rule", table_name="archive_alert_notifications"
    )
    op.drop_table("archive_alert_notifications")
    op.drop_table("archive_alert_settings")
