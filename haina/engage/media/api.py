"""REST: the engage image library under /api/v1/engage/images (marketing.manage): upload a
picture (multipart, field `media`: jpg or png, ≤ 10 MB) and read its bytes back for previews.
Welcome messages, broadcasts and moments attach a picture by the id answered here."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Path, Response, UploadFile

from haina.core.auth.actor import Actor
from haina.core.auth.permissions import Permission
from haina.engage.media import service
from haina.engage.media.schemas import ImageOut
from haina.web.database import SessionDep
from haina.web.security import require

router = APIRouter(tags=["engage"])

Manager = Annotated[Actor, require(Permission.MARKETING_MANAGE)]
ImageId = Annotated[str, Path(max_length=32)]
BASE = "/api/v1/engage/images"


@router.post(BASE, response_model=ImageOut, status_code=201)
def upload_image(
    media: Annotated[UploadFile, File(description="a jpg or png picture of at most 10 MB")],
    actor: Manager,
    session: SessionDep,
) -> ImageOut:
    """Keep a picture in the library; the same picture uploaded twice answers the first one.
    422 (with the reason) for an empty file, more than 10 MB, or anything but jpg / png."""
    content = media.file.read(service.MAX_BYTES + 1)
    image = service.store_image(session, actor, media.filename or "", content, media.content_type or "")
    out = ImageOut.model_validate(image)
    out.url = f"{BASE}/{image.id}"
    return out


@router.get(f"{BASE}/{{image_id}}", response_class=Response)
def image_content(image_id: ImageId, actor: Manager, session: SessionDep) -> Response:
    """The picture's bytes (for previews in the console)."""
    image = service.get_image(session, actor.tenant_id, image_id, with_content=True)
    return Response(
        image.content,
        media_type=image.content_type,
        headers={"Cache-Control": "private, max-age=86400", "X-Content-Type-Options": "nosniff"},
    )
