"""Temporary media (素材) of WeCom: the media_id that messages and moments attach.

* `upload_media`: media/upload (docs 90253), `type` image / voice / video / file; answers a
  media_id valid 3 days. Welcome messages (send_welcome_msg) and mass messages
  (add_msg_template) attach images by this id.
* `upload_attachment`: media/upload_attachment (docs 95098), media_type 1 image / 2 video,
  attachment_type 1 = customer moments; add_moment_task only takes ids from here.

Both are multipart/form-data with one file field `media`. Images: jpg or png, at most 10 MB.
Errors raise PlatformError with the errcode as `.code`.

[UNCONFIRMED] that an upload_attachment media_id also lives 3 days (the doc states it for
media/upload), that messages refuse upload_attachment ids (Haina never sends them there), and the
error codes the sandbox answers (40004 / 40005 / 40006 / 40007, see sandbox wecom_media).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from haina.core import clock
from haina.platforms.http import PlatformError
from haina.platforms.wecom.client import WeComClient

FIELD = "media"
MEDIA_LIFETIME = timedelta(days=3)
MAX_IMAGE_BYTES = 10 * 1024 * 1024
IMAGE_TYPES = ("image/jpeg", "image/png")

# upload_attachment parameters (docs 95098)
MEDIA_TYPE_IMAGE = 1
MEDIA_TYPE_VIDEO = 2
ATTACHMENT_MOMENT = 1


@dataclass(frozen=True)
class Uploaded:
    media_id: str
    type: str
    created_at: datetime


def _uploaded(answer: dict[str, Any], call: str) -> Uploaded:
    media_id = answer.get("media_id")
    if not isinstance(media_id, str) or not media_id:
        raise PlatformError("unexpected_answer", f"{call} answered without a media_id")
    created_at = clock.now()
    # created_at is a unix time given as a string in the doc example; a number is read too.
    raw = answer.get("created_at")
    try:
        created_at = datetime.fromtimestamp(int(raw), UTC) if raw not in (None, "") else created_at
    except (TypeError, ValueError, OverflowError, OSError):
        pass
    return Uploaded(media_id=media_id, type=str(answer.get("type") or ""), created_at=created_at)


def upload_media(
    client: WeComClient, kind: str, filename: str, content: bytes, content_type: str
) -> Uploaded:
    """media/upload: a temporary media of `kind` (image / voice / video / file), valid 3 days."""
    answer = client.upload("/cgi-bin/media/upload", {"type": kind}, FIELD, filename, content, content_type)
    return _uploaded(answer, "media/upload")


def upload_image(client: WeComClient, filename: str, content: bytes, content_type: str) -> Uploaded:
    """An image for welcome and mass messages."""
    return upload_media(client, "image", filename, content, content_type)


def upload_attachment(
    client: WeComClient,
    filename: str,
    content: bytes,
    content_type: str,
    *,
    media_type: int = MEDIA_TYPE_IMAGE,
    attachment_type: int = ATTACHMENT_MOMENT,
) -> Uploaded:
    """media/upload_attachment: an image (or video) for customer moments, valid 3 days."""
    answer = client.upload(
        "/cgi-bin/media/upload_attachment",
        {"media_type": str(media_type), "attachment_type": str(attachment_type)},
        FIELD,
        filename,
        content,
        content_type,
    )
    return _uploaded(answer, "media/upload_attachment")
