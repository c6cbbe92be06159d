"""REST: a message's archived media, decrypted as it streams (chats.read, the conversation's
scope, audited)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import StreamingResponse

from haina.archive.media import service
from haina.archive.media.store import bind_store, engine_of, media_store
from haina.core.auth.actor import Actor
from haina.core.auth.permissions import Permission
from haina.core.settings import Settings
from haina.web.database import SessionDep, get_settings
from haina.web.security import require

router = APIRouter(prefix="/api/v1/archive", tags=["archive"])

ChatsReader = Annotated[Actor, require(Permission.CHATS_READ)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
MessageId = Annotated[int, Path(ge=1, le=2**62)]
# 0: the message's own file; N + 1: item N of a mixed / chatrecord message.
Item = Annotated[int, Query(ge=0, le=100_000)]


def _disposition(opened: service.OpenedMedia) -> str:
    kind = "attachment" if opened.is_attachment else "inline"
    ascii_name = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in opened.filename)
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(opened.filename, safe='')}"


@router.get(
    "/messages/{message_id}/media",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def message_media(
    message_id: MessageId, actor: ChatsReader, session: SessionDep, settings: SettingsDep, item: Item = 0
) -> StreamingResponse:
    """The picture, voice, video or file of an archived message (`item` N + 1: of item N of a
    mixed / chatrecord message). Agents only their own conversations (404 otherwise); 404 while
    it is not fetched. Audited."""
    store = media_store(settings)
    bind_store(engine_of(session), store)
    opened = service.open_media(session, actor, settings, message_id, item=item, store=store)
    return StreamingResponse(
        opened.chunks,
        media_type=opened.mime,
        headers={
            "Content-Length": str(opened.size),
            "Content-Disposition": _disposition(opened),
            "Cache-Control": "private, no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
