"""archive keyword alert notifications WeCom could not take are sent again: attempts and the next
attempt's time

Revision ID: 20261124_0015
Revises: 20261124_0014
Create Date: 2026-11-24 13:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import haina.core.database

revision: str = "20261124_0015"
down_revision: str | None = "20261124_0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("archive_alert_notifications") as batch:
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(
            sa.Column("next_attempt_at", haina.core.database.UTCDateTime(timezone=True), nullable=True)
        )
    op.create_index(
        "ix_archive_alert_notifications_retry",
        "archive_alert_notifications",
        ["status", "next_attempt_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_archive_alert_notifications_retry", table_name="archive_alert_notifications")
    with op.batch_alter_table("archive_alert_notifications") as batch:
        batch.drop_column("next_attempt_at")
        batch.drop_column("attempts")
