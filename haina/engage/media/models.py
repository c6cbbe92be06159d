"""Tables of engage.media (every table name starts with `engage_`).

* EngageImage: a picture the merchant uploaded once (jpg or png, ≤ 10 MB), kept in the database
  so every server of a scaled-out install serves the same bytes; referenced by welcome messages,
  broadcasts and moments as `{"type"/"kind": "image", "image_id": …}`.
* EngageImageUpload: one upload of an image to one WeCom connection, for messages (media/upload)
  or moments (media/upload_attachment), with the temporary media_id WeCom answered (valid 3 days).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, LargeBinary, PrimaryKeyConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from haina.core.database import Base, new_id, utcnow

ID = String(32)


class Purpose:
    MESSAGE = "message"  # media/upload: welcome and mass messages
    MOMENT = "moment"  # media/upload_attachment: customer moments

    ALL = (MESSAGE, MOMENT)


class EngageImage(Base):
    __tablename__ = "engage_images"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        Index("ix_engage_images_tenant_id_sha256", "tenant_id", "sha256"),
    )

    id: Mapped[str] = mapped_column(ID, default=new_id)
    tenant_id: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200), default="")
    content_type: Mapped[str] = mapped_column(String(40))
    # Deferred: lists and sends need the metadata; only previews and uploads read the bytes.
    content: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    size: Mapped[int] = mapped_column(default=0)
    sha256: Mapped[str] = mapped_column(String(64))
    width: Mapped[int] = mapped_column(default=0)
    height: Mapped[int] = mapped_column(default=0)
    uploaded_by: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class EngageImageUpload(Base):
    __tablename__ = "engage_image_uploads"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        Index(
            "ix_engage_image_uploads_tenant_id_image_id_purpose",
            "tenant_id",
            "image_id",
            "purpose",
        ),
    )

    id: Mapped[str] = mapped_column(ID, default=new_id)
    tenant_id: Mapped[str] = mapped_column(String(32))
    image_id: Mapped[str] = mapped_column(ID)
    connection_id: Mapped[str] = mapped_column(ID)
    purpose: Mapped[str] = mapped_column(String(16))
    media_id: Mapped[str] = mapped_column(String(200))
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)
