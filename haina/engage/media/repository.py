"""Queries of engage.media, scoped to one tenant."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, undefer

from haina.engage.media.models import EngageImage, EngageImageUpload


def image(
    session: Session, tenant_id: str, image_id: str, *, with_content: bool = False
) -> EngageImage | None:
    query = select(EngageImage).where(EngageImage.tenant_id == tenant_id, EngageImage.id == image_id)
    if with_content:
        query = query.options(undefer(EngageImage.content))
    return session.scalars(query).first()


def images(session: Session, tenant_id: str, image_ids: list[str]) -> list[EngageImage]:
    if not image_ids:
        return []
    return list(
        session.scalars(
            select(EngageImage).where(EngageImage.tenant_id == tenant_id, EngageImage.id.in_(image_ids))
        )
    )


def image_by_hash(session: Session, tenant_id: str, sha256: str) -> EngageImage | None:
    return session.scalars(
        select(EngageImage)
        .where(EngageImage.tenant_id == tenant_id, EngageImage.sha256 == sha256)
        .order_by(EngageImage.created_at)
    ).first()


def latest_upload(
    session: Session, tenant_id: str, image_id: str, connection_id: str, purpose: str, since: datetime
) -> EngageImageUpload | None:
    """The newest upload of the image to the connection for `purpose` made after `since`."""
    return session.scalars(
        select(EngageImageUpload)
        .where(
            EngageImageUpload.tenant_id == tenant_id,
            EngageImageUpload.image_id == image_id,
            EngageImageUpload.connection_id == connection_id,
            EngageImageUpload.purpose == purpose,
            EngageImageUpload.uploaded_at > since,
        )
        .order_by(EngageImageUpload.uploaded_at.desc())
    ).first()
