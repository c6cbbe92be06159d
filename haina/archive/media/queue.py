"""The intake hook: a pending fetch row for every media file of the messages just stored, written
in the same transaction as the message (the bytes are fetched later, outside intake).

A message's files are numbered by `item`: 0 is the message's own file (an image, voice, video,
file or emotion message); N + 1 is item N (from 0, in payload order) of a mixed (图文混排) or
chatrecord (会话记录) message, whose items carry their payload as a JSON string (REFERENCE §1.7).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from haina.archive.media.models import ArchiveMediaFetch, FetchStatus
from haina.archive.models import ArchiveMessage
from haina.core import clock

# Message types whose payload is a file fetched with GetMediaData, and their size field
# (REFERENCE §1.7).
SIZE_FIELDS = {
    "image": "filesize",
    "video": "filesize",
    "file": "filesize",
    "voice": "voice_size",
    "emotion": "imagesize",
}
# Messages made of items, some of which may be media files of their own.
ITEM_TYPES = ("mixed", "chatrecord")
CHATRECORD_PREFIX = "ChatRecord"  # chatrecord item types: "ChatRecordImage", "ChatRecordFile"…
WHOLE = 0  # the item number of a message's own file


@dataclass(frozen=True, slots=True)
class MediaRef:
    """One media file of a message, as the message describes it."""

    item: int
    msgtype: str  # image / voice / video / file / emotion
    sdkfileid: str
    size: int  # 0: not given
    md5sum: str  # "": not given
    payload: dict[str, Any]


def item_type(message_type: str, raw_type: object) -> str:
    """An item's type in the plain message names: "ChatRecordImage" → "image" in a chatrecord,
    "image" as is in a mixed message."""
    if not isinstance(raw_type, str):
        return ""
    if message_type == "chatrecord" and raw_type.startswith(CHATRECORD_PREFIX):
        return raw_type[len(CHATRECORD_PREFIX) :].lower()
    return raw_type.lower()


def item_payload(content: object) -> dict[str, Any]:
    """An item's payload: a JSON string per the reference (a dict is taken as is); {} if unreadable."""
    if isinstance(content, dict):
        return content
    if isinstance(content, str):
        try:
            decoded = json.loads(content)
        except ValueError:
            return {}
        return decoded if isinstance(decoded, dict) else {}
    return {}


def message_items(message: dict[str, Any]) -> list[tuple[int, str, dict[str, Any]]]:
    """(item number, type, payload) of each item of a mixed / chatrecord message, in order;
    [] for any other message."""
    msgtype = str(message.get("msgtype") or "")
    payload = message.get(msgtype)
    if msgtype not in ITEM_TYPES or not isinstance(payload, dict):
        return []
    items = payload.get("item")
    if not isinstance(items, list):
        return []
    return [
        (index + 1, item_type(msgtype, item.get("type")), item_payload(item.get("content")))
        for index, item in enumerate(items)
        if isinstance(item, dict)
    ]


def _ref(item: int, msgtype: str, payload: object) -> MediaRef | None:
    if msgtype not in SIZE_FIELDS or not isinstance(payload, dict):
        return None
    sdkfileid = payload.get("sdkfileid")
    if not isinstance(sdkfileid, str) or not sdkfileid:
        return None
    size = payload.get(SIZE_FIELDS[msgtype])
    md5 = payload.get("md5sum")
    return MediaRef(
        item=item,
        msgtype=msgtype,
        sdkfileid=sdkfileid,
        size=size if isinstance(size, int) and not isinstance(size, bool) and size > 0 else 0,
        md5sum=md5.lower() if isinstance(md5, str) and len(md5) <= 64 else "",
        payload=payload,
    )


def media_refs(message: dict[str, Any]) -> list[MediaRef]:
    """Every media file of a message: its own (item 0), or those of its items (N + 1)."""
    msgtype = str(message.get("msgtype") or "")
    if msgtype in ITEM_TYPES:
        refs = (_ref(item, kind, payload) for item, kind, payload in message_items(message))
        return [ref for ref in refs if ref is not None]
    found = _ref(WHOLE, msgtype, message.get(msgtype))
    return [found] if found is not None else []


def queue_fetches(
    session: Session, tenant_id: str, stored: Sequence[tuple[ArchiveMessage, dict[str, Any]]]
) -> int:
    """Add a pending fetch for each media file (a media message's, or a mixed / chatrecord
    message's items') among rows just stored (ids known); how many."""
    now = clock.now()
    rows = [
        ArchiveMediaFetch(
            tenant_id=tenant_id,
            message_id=row.id,
            item=ref.item,
            msgtype=ref.msgtype,
            sdkfileid=ref.sdkfileid,
            expected_size=ref.size,
            md5sum=ref.md5sum,
            status=FetchStatus.PENDING,
            next_attempt_at=now,
        )
        for row, message in stored
        for ref in media_refs(message)
    ]
    session.add_all(rows)
    return len(rows)
