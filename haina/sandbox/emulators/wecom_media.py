"""WeCom emulator: temporary media (素材). media/upload (docs 90253), media/upload_attachment
(docs 95098) and media/get, plus `check_image_media`, which the senders (send_welcome_msg,
add_msg_template, add_moment_task) call on the image media_ids they are given.

State in `scratch(state)["media"]`: media_id → {"media_id", "type", "purpose" ("media" from
media/upload, "attachment" from upload_attachment), "filename", "content_type", "content",
"size", "width", "height", "created_at"}. A media_id lives 3 days.

Error codes [UNCONFIRMED]: 40004 invalid media type, 40005 invalid file type, 40006 invalid file
size, 40007 invalid media_id, 41005 media data missing. They follow WeCom's global error-code
page as remembered, not a live check; they are kept in this one file.
"""

from __future__ import annotations

import io
import secrets
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from haina.core import clock
from haina.platforms.wecom import errors
from haina.platforms.wecom.errors import WeComApiError
from haina.sandbox.emulators.wecom_http import TokenGate, ok
from haina.sandbox.emulators.wecom_store import scratch, unix
from haina.sandbox.state import SandboxState

KEY = "media"
MEDIA_LIFETIME = timedelta(days=3)
# [UNCONFIRMED] codes, see the module docstring.
INVALID_MEDIA_TYPE = 40004
INVALID_FILE_TYPE = 40005
INVALID_FILE_SIZE = 40006
INVALID_MEDIA_ID = 40007
MISSING_MEDIA_DATA = 41005
MESSAGES = {
    INVALID_MEDIA_TYPE: "invalid media type",
    INVALID_FILE_TYPE: "invalid file type",
    INVALID_FILE_SIZE: "invalid file size",
    INVALID_MEDIA_ID: "invalid media_id",
    MISSING_MEDIA_DATA: "media data missing",
}
# Limits of media/upload per type (docs 90253): images jpg/png ≤ 10 MB, voice amr ≤ 2 MB,
# video mp4 ≤ 10 MB, files ≤ 20 MB; all at least 5 bytes.
MAX_BYTES = {
    "image": 10 * 1024 * 1024,
    "voice": 2 * 1024 * 1024,
    "video": 10 * 1024 * 1024,
    "file": 20 * 1024 * 1024,
}
MIN_BYTES = 5
IMAGE_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png"}
# upload_attachment: media_type 1 image, 2 video; attachment_type 1 = customer moments.
ATTACHMENT_MEDIA_TYPES = {1: "image", 2: "video"}
ATTACHMENT_TYPES = (1,)

PURPOSE_MEDIA = "media"
PURPOSE_ATTACHMENT = "attachment"


def media_error(code: int, detail: str = "") -> WeComApiError:
    """A WeComApiError with this module's errmsg (errors.py does not know these codes)."""
    error = WeComApiError(code, detail)
    error.errmsg = MESSAGES.get(code, errors.message_for(code)) + (f": {detail}" if detail else "")
    return error


def media_store(state: SandboxState) -> dict[str, dict[str, Any]]:
    with state.lock:
        store: dict[str, dict[str, Any]] = scratch(state).setdefault(KEY, {})
        return store


def _image_size(content: bytes) -> tuple[str, int, int]:
    """The content type, width and height of a jpg / png; 40005 for anything else."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(content)) as image:
            kind, width, height = image.format or "", image.width, image.height
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise media_error(INVALID_FILE_TYPE, "the file is not an image") from error
    if kind not in IMAGE_FORMATS:
        raise media_error(INVALID_FILE_TYPE, f"{kind or 'unknown'} images are not accepted; use jpg or png")
    return IMAGE_FORMATS[kind], width, height


async def _the_file(request: Request) -> UploadFile:
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise media_error(MISSING_MEDIA_DATA, "post multipart/form-data with a file field 'media'")
    form = await request.form()
    upload = form.get("media")
    if not isinstance(upload, UploadFile):
        raise media_error(MISSING_MEDIA_DATA, "no file field 'media'")
    return upload


def _store(
    state: SandboxState, kind: str, purpose: str, upload: UploadFile, content: bytes
) -> dict[str, Any]:
    if not MIN_BYTES <= len(content) <= MAX_BYTES[kind]:
        raise media_error(INVALID_FILE_SIZE, f"a {kind} takes {MIN_BYTES} bytes to {MAX_BYTES[kind]} bytes")
    content_type, width, height = upload.content_type or "application/octet-stream", 0, 0
    if kind == "image":
        content_type, width, height = _image_size(content)
    now = clock.now()
    # Real ids are about 60 characters of base64-like text, this one too.
    media_id = ("1" if purpose == PURPOSE_MEDIA else "3") + secrets.token_urlsafe(45)
    record = {
        "media_id": media_id,
        "type": kind,
        "purpose": purpose,
        "filename": upload.filename or "",
        "content_type": content_type,
        "content": content,
        "size": len(content),
        "width": width,
        "height": height,
        "created_at": now,
    }
    store = media_store(state)
    with state.lock:
        store[media_id] = record
    return record


def _answer(record: dict[str, Any]) -> dict[str, Any]:
    # The doc example gives created_at as a string of the unix time.
    return ok(type=record["type"], media_id=record["media_id"], created_at=str(unix(record["created_at"])))


def find_media(state: SandboxState, media_id: str) -> dict[str, Any] | None:
    """The stored media if it is known and younger than 3 days."""
    store = media_store(state)
    with state.lock:
        record = store.get(media_id)
    if record is None or clock.now() - record["created_at"] >= MEDIA_LIFETIME:
        return None
    return record


def check_image_media(state: SandboxState, attachments: list[dict[str, Any]], *, moment: bool) -> None:
    """40007 for an image attachment whose media_id is unknown or expired; for a moment the id
    must come from upload_attachment. Images given only by pic_url (add_msg_template) pass."""
    for attachment in attachments:
        if not isinstance(attachment, dict) or attachment.get("msgtype") != "image":
            continue
        image = attachment.get("image")
        media_id = image.get("media_id") if isinstance(image, dict) else None
        if not media_id and not moment and isinstance(image, dict) and image.get("pic_url"):
            continue
        record = find_media(state, media_id) if isinstance(media_id, str) and media_id else None
        if record is None or record["type"] != "image":
            raise media_error(INVALID_MEDIA_ID, f"unknown or expired image media_id {media_id!r}")
        if moment and record["purpose"] != PURPOSE_ATTACHMENT:
            raise media_error(
                INVALID_MEDIA_ID, "a moment takes a media_id from media/upload_attachment, not media/upload"
            )


def add_media_routes(router: APIRouter, state: SandboxState, gate: TokenGate) -> None:
    """Adds media/upload, media/upload_attachment and media/get to the WeCom router."""

    @router.post("/cgi-bin/media/upload")
    async def upload(request: Request, _: str = Depends(gate)) -> dict[str, Any]:
        kind = request.query_params.get("type", "")
        if kind not in MAX_BYTES:
            raise media_error(INVALID_MEDIA_TYPE, "type must be image, voice, video or file")
        upload = await _the_file(request)
        content = await upload.read()
        return _answer(_store(state, kind, PURPOSE_MEDIA, upload, content))

    @router.post("/cgi-bin/media/upload_attachment")
    async def upload_attachment(request: Request, _: str = Depends(gate)) -> dict[str, Any]:
        params = request.query_params
        try:
            media_type = int(params.get("media_type", ""))
            attachment_type = int(params.get("attachment_type", ""))
        except ValueError:
            raise media_error(INVALID_MEDIA_TYPE, "media_type and attachment_type are numbers")
        if media_type not in ATTACHMENT_MEDIA_TYPES:
            raise media_error(INVALID_MEDIA_TYPE, "media_type must be 1 (image) or 2 (video)")
        if attachment_type not in ATTACHMENT_TYPES:
            # [UNCONFIRMED] code for an unknown attachment_type.
            raise WeComApiError(errors.INVALID_PARAMETER, "attachment_type must be 1 (customer moments)")
        upload = await _the_file(request)
        content = await upload.read()
        return _answer(_store(state, ATTACHMENT_MEDIA_TYPES[media_type], PURPOSE_ATTACHMENT, upload, content))

    @router.get("/cgi-bin/media/get")
    def get(request: Request, _: str = Depends(gate)) -> Response:
        # Only media/upload ids, as WeCom serves them; errors are JSON like any other call.
        record = find_media(state, request.query_params.get("media_id", ""))
        if record is None or record["purpose"] != PURPOSE_MEDIA:
            raise media_error(INVALID_MEDIA_ID)
        disposition = f"attachment; filename*=UTF-8''{quote(record['filename'] or record['media_id'])}"
        return Response(
            record["content"], media_type=record["content_type"], headers={"Content-Disposition": disposition}
        )
