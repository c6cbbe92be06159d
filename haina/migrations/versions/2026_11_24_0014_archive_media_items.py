"""archive media items: a fetch per media item of mixed / chatrecord messages

`archive_media_fetches.item` says which file of a message a fetch is: 0 for the message's own file
(every existing row), N + 1 for item N of a mixed or chatrecord message. The unique key becomes
(tenant_id, message_id, item). batch_alter_table: SQLite rebuilds the table, PostgreSQL alters it.

Revision ID: 20261124_0014
Revises: 20261124_0013
Create Date: 2026-11-24 13:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261124_0014"
down_revision: str | None = "20261124_0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("archive_media_fetches") as batch:
        batch.add_column(sa.Column("item", sa.BigInteger(), server_default=sa.text("0"), nullable=False))
        batch.drop_constraint("uq_archive_media_fetches_tenant_id_message_id", type_="unique")
        batch.create_unique_constraint(
            "uq_archive_media_fetches_tenant_id_message_id_item", ["tenant_id", "message_id", "item"]
        )


def downgrade() -> None:
    # Item fetches have no place in the old key: they go (their blobs stay until the next forget).
    op.execute("DELETE FROM archive_media_fetches WHERE item <> 0")
    with op.batch_alter_table("archive_media_fetches") as batch:
        batch.drop_constraint("uq_archive_media_fetches_tenant_id_message_id_item", type_="unique")
        batch.create_unique_constraint(
            "uq_archive_media_fetches_tenant_id_message_id", ["tenant_id", "message_id"]
        )
        batch.drop_column("item")
