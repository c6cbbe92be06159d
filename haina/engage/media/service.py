"""The image library of engage: pictures the merchant uploads once and attaches to welcome
messages, broadcasts and moments by image id.

WeCom attaches pictures by a temporary media_id (valid 3 days): `media_id_for` uploads an image to
a corp when it is sent, media/upload for messages and media/upload_attachment for moments, and
reuses an upload younger than 2.5 days (a margin, so an id never expires while WeCom still holds
a message or moment task that names it).
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session

from haina.connections.wecom_corps import Corp
from haina.core import clock
from haina.core.auth.actor import Actor
from haina.core.errors import InvalidInput, NotFound
from haina.engage.media import repository
from haina.engage.media.models import EngageImage, EngageImageUpload, Purpose
from haina.platforms.wecom import media as wecom_media

MAX_BYTES = wecom_media.MAX_IMAGE_BYTES
FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png"}
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png"}
REUSE_FOR = timedelta(days=2, hours=12)
NAME_MAX_LENGTH = 200

__all__ = ["EngageImage", "EngageImageUpload", "Purpose"]


@dataclass(frozen=True)
class ImageFacts:
    content_type: str
    width: int
    height: int


def inspect(content: bytes, content_type: str = "") -> ImageFacts:
    """What the bytes really are (Pillow reads them); 422 unless a jpg or png of at most 10 MB."""
    if not content:
        raise InvalidInput("the file is empty; choose a jpg or png picture", code="image_empty")
    if len(content) > MAX_BYTES:
        raise InvalidInput(
            f"the picture is larger than 10 MB ({len(content) // 1024} KB); WeCom takes at most 10 MB",
            code="image_too_large",
        )
    declared = content_type.split(";")[0].strip().lower()
    if declared and declared not in EXTENSIONS and declared != "application/octet-stream":
        raise InvalidInput(
            f"the file is {declared}; WeCom takes jpg or png pictures", code="image_wrong_type"
        )
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(content)) as image:
            kind, width, height = image.format or "", image.width, image.height
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise InvalidInput(
            "the file is not a picture (or it is damaged); choose a jpg or png picture", code="image_invalid"
        ) from error
    if kind not in FORMATS:
        raise InvalidInput(
            f"the picture is a {kind or 'unknown'} image; WeCom takes jpg or png pictures",
            code="image_wrong_type",
        )
    return ImageFacts(FORMATS[kind], width, height)


def store_image(
    session: Session, actor: Actor, filename: str, content: bytes, content_type: str
) -> EngageImage:
    """Keep a picture in the tenant's library (validated by `inspect`); the same bytes uploaded
    again answer the picture already kept."""
    facts = inspect(content, content_type)
    digest = hashlib.sha256(content).hexdigest()
    existing = repository.image_by_hash(session, actor.tenant_id, digest)
    if existing is not None:
        return existing
    image = EngageImage(
        tenant_id=actor.tenant_id,
        name=(filename or "").strip()[:NAME_MAX_LENGTH],
        content_type=facts.content_type,
        content=content,
        size=len(content),
        sha256=digest,
        width=facts.width,
        height=facts.height,
        uploaded_by=(actor.display_name or actor.username)[:100],
        created_at=clock.now(),
    )
    session.add(image)
    session.flush()
    return image


def get_image(session: Session, tenant_id: str, image_id: str, *, with_content: bool = False) -> EngageImage:
    found = repository.image(session, tenant_id, image_id, with_content=with_content)
    if found is None:
        raise NotFound("no such picture", code="image_not_found")
    return found


def check_images(
    session: Session, tenant_id: str, image_ids: list[str], *, path: str = "attachments"
) -> None:
    """422 when an attachment names a picture the tenant's library does not hold."""
    wanted = {image_id for image_id in image_ids if image_id}
    known = {image.id for image in repository.images(session, tenant_id, sorted(wanted))}
    missing = sorted(wanted - known)
    if missing:
        raise InvalidInput(
            "unknown picture: " + ", ".join(missing) + "; upload it again",
            code="image_not_found_in_library",
            path=path,
        )


def media_id_for(session: Session, corp: Corp, image_id: str, purpose: str) -> str:
    """A WeCom media_id of the picture for `corp`: an upload younger than 2.5 days is reused,
    otherwise the picture is uploaded (media/upload for messages, upload_attachment for
    moments). PlatformError when WeCom refuses it; NotFound for an unknown picture."""
    if purpose not in Purpose.ALL:
        raise ValueError(f"purpose must be one of {Purpose.ALL}")
    tenant_id = corp.connection.tenant_id
    now = clock.now()
    reusable = repository.latest_upload(
        session, tenant_id, image_id, corp.connection.id, purpose, now - REUSE_FOR
    )
    if reusable is not None:
        return reusable.media_id
    image = get_image(session, tenant_id, image_id, with_content=True)
    filename = f"{image.id}.{EXTENSIONS.get(image.content_type, 'jpg')}"
    if purpose == Purpose.MESSAGE:
        uploaded = wecom_media.upload_image(corp.client, filename, image.content, image.content_type)
    else:
        uploaded = wecom_media.upload_attachment(corp.client, filename, image.content, image.content_type)
    session.add(
        EngageImageUpload(
            tenant_id=tenant_id,
            image_id=image.id,
            connection_id=corp.connection.id,
            purpose=purpose,
            media_id=uploaded.media_id,
            uploaded_at=now,
        )
    )
    session.flush()
    return uploaded.media_id
