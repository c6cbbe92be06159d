"""The intake hook: a pending fetch row for every media message just stored, written in the
same transaction as the message (the bytes are fetched later, outside intake)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from haina.archive.media.models import ArchiveMediaFetch, FetchStatus
from haina.archive.models import ArchiveMessage
from haina.core import clock

# Message types whose payload is a file fetched with GetMediaData, and their size field
# (REFERENCE §1.7). mixed / chatrecord items may hold media too: not fetched yet.
SIZE_FIELDS = {
    "image": "filesize",
    "video": "filesize",
    "file": "filesize",
    "voice": "voice_size",
    "emotion": "imagesize",
}


def media_of(message: dict[str, Any]) -> tuple[str, str, int, str] | None:
    """(msgtype, sdkfileid, size, md5sum) of a media message; None for any other."""
    msgtype = str(message.get("msgtype") or "")
    payload = message.get(msgtype)
    if msgtype not in SIZE_FIELDS or not isinstance(payload, dict):
        return None
    sdkfileid = payload.get("sdkfileid")
    if not isinstance(sdkfileid, str) or not sdkfileid:
        return None
    size = payload.get(SIZE_FIELDS[msgtype])
    md5 = payload.get("md5sum")
    return (
        msgtype,
        sdkfileid,
        size if isinstance(size, int) and not isinstance(size, bool) and size > 0 else 0,
        md5.lower() if isinstance(md5, str) and len(md5) <= 64 else "",
    )


def queue_fetches(
    session: Session, tenant_id: str, stored: Sequence[tuple[ArchiveMessage, dict[str, Any]]]
) -> int:
    """Add a pending fetch for each media message among rows just stored (ids known); how many."""
    now = clock.now()
    rows = []
    for row, message in stored:
        found = media_of(message)
        if found is None:
            continue
        msgtype, sdkfileid, size, md5 = found
        rows.append(
            ArchiveMediaFetch(
                tenant_id=tenant_id,
                message_id=row.id,
                msgtype=msgtype,
                sdkfileid=sdkfileid,
                expected_size=size,
                md5sum=md5,
                status=FetchStatus.PENDING,
                next_attempt_at=now,
            )
        )
    session.add_all(rows)
    return len(rows)
