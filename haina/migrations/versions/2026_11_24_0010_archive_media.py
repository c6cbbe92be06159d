"""archive media: the content-addressed store of chat media and their fetches

Revision ID: 20261124_0010
Revises: 20261124_0009
Create Date: 2026-11-24 08:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import haina.core.database

revision: str = "20261124_0010"
down_revision: str | None = "20261124_0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "archive_media",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("mime", sa.String(length=100), nullable=False),
        sa.Column("refs", sa.BigInteger(), nullable=False),
        sa.Column("created_at", haina.core.database.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_archive_media")),
        sa.UniqueConstraint("tenant_id", "digest", name=op.f("uq_archive_media_tenant_id_digest")),
    )
    op.create_index(op.f("ix_archive_media_tenant_id"), "archive_media", ["tenant_id"], unique=False)
    op.create_table(
        "archive_media_fetches",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("message_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("msgtype", sa.String(length=32), nullable=False),
        sa.Column("sdkfileid", sa.Text(), nullable=False),
        sa.Column("expected_size", sa.BigInteger(), nullable=False),
        sa.Column("md5sum", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", haina.core.database.UTCDateTime(timezone=True), nullable=True),
        sa.Column("media_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", haina.core.database.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", haina.core.database.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(
            ["media_id"],
            ["archive_media.id"],
            name=op.f("fk_archive_media_fetches_media_id_archive_media"),
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["archive_messages.id"],
            name=op.f("fk_archive_media_fetches_message_id_archive_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_archive_media_fetches")),
        sa.UniqueConstraint(
            "tenant_id", "message_id", name=op.f("uq_archive_media_fetches_tenant_id_message_id")
        ),
    )
    op.create_index("ix_archive_media_fetches_media_id", "archive_media_fetches", ["media_id"], unique=False)
    op.create_index(
        "ix_archive_media_fetches_status_next_attempt_at",
        "archive_media_fetches",
        ["tenant_id", "status", "next_attempt_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_archive_media_fetches_tenant_id"), "archive_media_fetches", ["tenant_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_archive_media_fetches_tenant_id"), table_name="archive_media_fetches")
    op.drop_index("ix_archive_media_fetches_status_next_attempt_at", table_name="archive_media_fetches")
    op.drop_index("ix_archive_media_fetches_media_id", table_name="archive_media_fetches")
    op.drop_table("archive_media_fetches")
    op.drop_index(op.f("ix_archive_media_tenant_id"), table_name="archive_media")
    op.drop_table("archive_media")
