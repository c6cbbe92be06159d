"""engage images: the picture library and its WeCom uploads

Revision ID: 20261124_0009
Revises: 20261124_0007
Create Date: 2026-11-24 05:30:28.314580
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import haina.core.database

revision: str = "20261124_0009"
down_revision: str | None = "20261124_0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "engage_image_uploads",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("image_id", sa.String(length=32), nullable=False),
        sa.Column("connection_id", sa.String(length=32), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("media_id", sa.String(length=200), nullable=False),
        sa.Column("uploaded_at", haina.core.database.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_engage_image_uploads")),
    )
    with op.batch_alter_table("engage_image_uploads", schema=None) as batch_op:
        batch_op.create_index(
            "ix_engage_image_uploads_tenant_id_image_id_purpose",
            ["tenant_id", "image_id", "purpose"],
            unique=False,
        )

    op.create_table(
        "engage_images",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=40), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("width", sa.BigInteger(), nullable=False),
        sa.Column("height", sa.BigInteger(), nullable=False),
        sa.Column("uploaded_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", haina.core.database.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_engage_images")),
    )
    with op.batch_alter_table("engage_images", schema=None) as batch_op:
        batch_op.create_index("ix_engage_images_tenant_id_sha256", ["tenant_id", "sha256"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("engage_images", schema=None) as batch_op:
        batch_op.drop_index("ix_engage_images_tenant_id_sha256")

    op.drop_table("engage_images")
    with op.batch_alter_table("engage_image_uploads", schema=None) as batch_op:
        batch_op.drop_index("ix_engage_image_uploads_tenant_id_image_id_purpose")

    op.drop_table("engage_image_uploads")
