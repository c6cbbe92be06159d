"""event deliveries carry a priority: records before reactions

Revision ID: 20261124_0016
Revises: 20261124_0015
Create Date: 2026-11-24 15:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261124_0016"
down_revision: str | None = "20261124_0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("event_deliveries") as batch:
        batch.add_column(sa.Column("priority", sa.SmallInteger(), nullable=False, server_default="1"))
    # Pushes not yet turned into records go first from now on too.
    op.execute("UPDATE event_deliveries SET priority = 0 WHERE handler LIKE 'connections.%.push'")
    op.drop_index("ix_event_deliveries_status_next_attempt_at", table_name="event_deliveries")
    op.create_index(
        "ix_event_deliveries_status_priority_next_attempt_at",
        "event_deliveries",
        ["status", "priority", "next_attempt_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_event_deliveries_status_priority_next_attempt_at", table_name="event_deliveries")
    op.create_index(
        "ix_event_deliveries_status_next_attempt_at", "event_deliveries", ["status", "next_attempt_at"]
    )
    with op.batch_alter_table("event_deliveries") as batch:
        batch.drop_column("priority")
