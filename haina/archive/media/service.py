"""Archived chat media: fetching through GetMediaData (chunks, size and md5 checks, a size cap),
storing once per content (encrypted, content-addressed), reading within the archive's scope
rules (audited), and forgetting messages' media. Services flush; the caller commits."""

from __future__ import annotations

import hashlib
import itertools
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, event, exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from haina.archive import service as archive
from haina.archive.media.models import ArchiveMedia, ArchiveMediaFetch, FetchStatus
from haina.archive.media.queue import ITEM_TYPES, WHOLE, media_refs, message_items
from haina.archive.media.store import (
    BlobMissing,
    BlobStore,
    blob_cipher,
    media_digest,
    rewrap,
    seal,
    store_of,
    unseal,
)
from haina.archive.models import ArchiveMessage
from haina.archive.repository import ConversationRepository
from haina.archive.sources import MediaSource
from haina.core import clock
from haina.core.audit import service as audit
from haina.core.auth.actor import Actor
from haina.core.errors import NotFound
from haina.core.settings import Settings
from haina.platforms.http import PlatformError
from haina.platforms.wecom import errors
from haina.platforms.wecom.errors import ArchiveSdkError

log = logging.getLogger(__name__)

CHUNK_LIMIT = 10_000  # 10,000 calls: a source that never finishes is a bug, not a big file
# SDK codes no retry will change: the file id is wrong, the data expired, the call is malformed.
FINAL_SDK_CODES = frozenset(
    {errors.ARCHIVE_BAD_FILE_ID, errors.ARCHIVE_DATA_EXPIRED, errors.ARCHIVE_BAD_PARAMETER}
)
MAX_ATTEMPTS = 5
RETRY_BASE = timedelta(minutes=1)
RETRY_CAP = timedelta(hours=6)
LEASE = timedelta(minutes=10)  # a claimed fetch is not handed out again for this long
KINDS = {"image": "image", "emotion": "image", "voice": "audio", "video": "video", "file": "file"}
EXTENSIONS = {
    "image/png": "png",
    "image/gif": "gif",
    "image/jpeg": "jpg",
    "image/webp": "webp",
    "audio/amr": "amr",
    "video/mp4": "mp4",
}


class MediaFetchError(Exception):
    """A fetch that did not give the file the message describes; `is_final` when retrying
    cannot help."""

    def __init__(self, reason: str, *, is_final: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.is_final = is_final


# ── fetching ─────────────────────────────────────────────────────────────────────────────


def fetch_media(
    source: MediaSource, sdkfileid: str, expected_size: int, md5: str, *, max_bytes: int
) -> bytes:
    """The file's bytes, chunk after chunk until is_finish, checked against the size and md5sum
    the message gave (0 / "" = not given). MediaFetchError says what went wrong."""
    if expected_size > max_bytes:
        raise MediaFetchError(f"文件 {expected_size} 字节，超过上限 {max_bytes} 字节", is_final=True)
    parts: list[bytes] = []
    total = 0
    index = ""
    for _ in range(CHUNK_LIMIT):
        try:
            chunk = source.get_media_data(sdkfileid, index)
        except ArchiveSdkError as error:
            raise MediaFetchError(f"{error.code}: {error.message}", is_final=error.code in FINAL_SDK_CODES)
        except PlatformError as error:
            raise MediaFetchError(f"{error.code}: {error.message}")
        total += len(chunk.data)
        if total > max_bytes:
            raise MediaFetchError(f"文件超过上限 {max_bytes} 字节", is_final=True)
        parts.append(chunk.data)
        if chunk.is_finish:
            break
        if not chunk.data or chunk.outindexbuf == index:
            raise MediaFetchError("GetMediaData 没有进展（空数据或相同的 indexbuf）")
        index = chunk.outindexbuf
    else:
        raise MediaFetchError(f"GetMediaData 调用 {CHUNK_LIMIT} 次仍未结束")
    data = b"".join(parts)
    if expected_size and len(data) != expected_size:
        raise MediaFetchError(f"大小不符：消息为 {expected_size} 字节，收到 {len(data)} 字节")
    if md5:
        actual = hashlib.md5(data).hexdigest()
        if actual != md5.lower():
            raise MediaFetchError(f"md5 不符：消息为 {md5}，收到 {actual}")
    return data


def sniff_mime(msgtype: str, data: bytes) -> str:
    """The content type to serve: from the bytes for pictures (never SVG), by type otherwise."""
    if msgtype in ("image", "emotion"):
        if data.startswith(b"\x89PNG\r\n\x1a\n"):
            return "image/png"
        if data.startswith((b"GIF87a", b"GIF89a")):
            return "image/gif"
        if data.startswith(b"\xff\xd8\xff"):
            return "image/jpeg"
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            return "image/webp"
        return "application/octet-stream"
    if msgtype == "voice":
        return "audio/amr"
    if msgtype == "video":
        return "video/mp4"
    return "application/octet-stream"


def store_blob(
    session: Session, tenant_id: str, settings: Settings, store: BlobStore, data: bytes, mime: str
) -> ArchiveMedia:
    """The tenant's ArchiveMedia for these bytes: the existing one when the same bytes are already
    stored (the file is written again only if it went missing), else a new one."""
    digest = media_digest(settings.hash_key, tenant_id, data)
    existing = _media_by_digest(session, tenant_id, digest)
    if existing is not None:
        if not store.exists(digest):
            store.put(digest, seal(blob_cipher(settings), digest, data))
        return existing
    store.put(digest, seal(blob_cipher(settings), digest, data))
    try:
        with session.begin_nested():
            media = ArchiveMedia(tenant_id=tenant_id, digest=digest, size=len(data), mime=mime, refs=0)
            session.add(media)
    except IntegrityError:  # stored by a concurrent fetch a moment ago
        found = _media_by_digest(session, tenant_id, digest)
        if found is None:
            raise
        return found
    return media


def _media_by_digest(session: Session, tenant_id: str, digest: str) -> ArchiveMedia | None:
    return session.scalar(
        select(ArchiveMedia).where(ArchiveMedia.tenant_id == tenant_id, ArchiveMedia.digest == digest)
    )


@dataclass(frozen=True)
class Job:
    fetch_id: str
    message_id: int
    item: int
    msgtype: str
    sdkfileid: str
    expected_size: int
    md5sum: str


def claim_due(session: Session, tenant_id: str, limit: int) -> list[Job]:
    """Pending fetches whose time has come, oldest message first, leased for LEASE so that a
    second fetcher running at the same time takes other ones."""
    now = clock.now()
    statement = (
        select(ArchiveMediaFetch)
        .where(
            ArchiveMediaFetch.tenant_id == tenant_id,
            ArchiveMediaFetch.status == FetchStatus.PENDING,
            ArchiveMediaFetch.next_attempt_at <= now,
        )
        .order_by(ArchiveMediaFetch.next_attempt_at, ArchiveMediaFetch.message_id, ArchiveMediaFetch.item)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        statement = statement.with_for_update(skip_locked=True)
    rows = list(session.scalars(statement))
    for row in rows:
        row.next_attempt_at = now + LEASE
    session.flush()
    return [Job(r.id, r.message_id, r.item, r.msgtype, r.sdkfileid, r.expected_size, r.md5sum) for r in rows]


def _locked_fetch(session: Session, tenant_id: str, fetch_id: str) -> ArchiveMediaFetch | None:
    statement = select(ArchiveMediaFetch).where(
        ArchiveMediaFetch.tenant_id == tenant_id, ArchiveMediaFetch.id == fetch_id
    )
    if session.get_bind().dialect.name == "postgresql":
        statement = statement.with_for_update()
    return session.scalar(statement)


def record_stored(
    session: Session, tenant_id: str, settings: Settings, store: BlobStore, job: Job, data: bytes
) -> ArchiveMedia | None:
    """Store the fetched bytes and link them to the message; None when the message was
    forgotten (or stored) meanwhile."""
    fetch = _locked_fetch(session, tenant_id, job.fetch_id)
    if fetch is None or fetch.status == FetchStatus.STORED:
        return None
    media = store_blob(session, tenant_id, settings, store, data, sniff_mime(job.msgtype, data))
    media.refs += 1
    fetch.media_id = media.id
    fetch.status = FetchStatus.STORED
    fetch.attempts += 1
    fetch.reason = None
    fetch.next_attempt_at = None
    fetch.updated_at = clock.now()
    session.flush()
    return media


def record_failure(
    session: Session, tenant_id: str, job: Job, error: MediaFetchError, *, max_attempts: int = MAX_ATTEMPTS
) -> str | None:
    """Keep the reason; retry later with a doubling delay, or fail for good after
    `max_attempts` (or at once when retrying cannot help). The new status."""
    fetch = _locked_fetch(session, tenant_id, job.fetch_id)
    if fetch is None or fetch.status == FetchStatus.STORED:
        return None
    fetch.attempts += 1
    fetch.reason = error.reason[:2000]
    fetch.updated_at = now = clock.now()
    if error.is_final or fetch.attempts >= max_attempts:
        fetch.status = FetchStatus.FAILED
        fetch.next_attempt_at = None
    else:
        fetch.status = FetchStatus.PENDING
        fetch.next_attempt_at = now + min(RETRY_CAP, RETRY_BASE * 2 ** (fetch.attempts - 1))
    session.flush()
    return fetch.status


def retry_failed(session: Session, tenant_id: str, message_ids: Sequence[int] | None = None) -> int:
    """Put failed fetches (all, or those of these messages) back in the queue, e.g. after a fix."""
    statement = select(ArchiveMediaFetch).where(
        ArchiveMediaFetch.tenant_id == tenant_id, ArchiveMediaFetch.status == FetchStatus.FAILED
    )
    if message_ids is not None:
        statement = statement.where(ArchiveMediaFetch.message_id.in_(list(message_ids)))
    rows = list(session.scalars(statement))
    for row in rows:
        row.status, row.attempts, row.next_attempt_at = FetchStatus.PENDING, 0, clock.now()
    session.flush()
    return len(rows)


# ── forgetting ───────────────────────────────────────────────────────────────────────────

_UNLINK = "archive_media_unlink"


def forget_messages(
    session: Session, tenant_id: str, message_ids: Iterable[int], *, store: BlobStore | None = None
) -> int:
    """Drop the media links of these messages and delete every blob of the tenant no message
    links any more (the rows now, the files once the transaction commits); blobs deleted."""
    wanted = sorted({int(message_id) for message_id in message_ids})
    for start in range(0, len(wanted), 500):
        session.execute(
            delete(ArchiveMediaFetch).where(
                ArchiveMediaFetch.tenant_id == tenant_id,
                ArchiveMediaFetch.message_id.in_(wanted[start : start + 500]),
            )
        )
    session.flush()
    linked = exists().where(ArchiveMediaFetch.media_id == ArchiveMedia.id)
    # Every unlinked blob, not only these messages': links removed by a cascade (messages
    # deleted first) are swept up too.
    orphans = list(
        session.execute(
            select(ArchiveMedia.id, ArchiveMedia.digest).where(ArchiveMedia.tenant_id == tenant_id, ~linked)
        )
    )
    for start in range(0, len(orphans), 500):
        session.execute(
            delete(ArchiveMedia).where(
                ArchiveMedia.tenant_id == tenant_id,
                ArchiveMedia.id.in_([media_id for media_id, _ in orphans[start : start + 500]]),
            )
        )
    _refresh_refs(session, tenant_id)
    session.flush()
    _delete_after_commit(session, store or store_of(session), [digest for _, digest in orphans])
    return len(orphans)


def _refresh_refs(session: Session, tenant_id: str) -> None:
    counts = (
        select(func.count())
        .where(ArchiveMediaFetch.media_id == ArchiveMedia.id)
        .correlate(ArchiveMedia)
        .scalar_subquery()
    )
    session.execute(
        update(ArchiveMedia)
        .where(ArchiveMedia.tenant_id == tenant_id, ArchiveMedia.refs != counts)
        .values(refs=counts)
    )


def _delete_after_commit(session: Session, store: BlobStore, addresses: list[str]) -> None:
    """Files go only when the rows' deletion is committed: a rollback keeps both."""
    if not addresses:
        return
    pending: list[tuple[BlobStore, str]] = session.info.setdefault(_UNLINK, [])
    if not session.info.get(_UNLINK + "_listening"):
        session.info[_UNLINK + "_listening"] = True
        event.listen(session, "after_commit", _unlink_pending)
        event.listen(session, "after_rollback", _drop_pending)
    pending.extend((store, address) for address in addresses)


def _unlink_pending(session: Session) -> None:
    for store, address in session.info.pop(_UNLINK, []):
        try:
            store.delete(address)
        except OSError:  # the row is gone; a leftover file is only wasted space
            log.exception("could not delete archive media blob %s", address)


def _drop_pending(session: Session) -> None:
    session.info.pop(_UNLINK, None)


# ── reading ──────────────────────────────────────────────────────────────────────────────


@dataclass
class OpenedMedia:
    message_id: int
    mime: str
    size: int
    filename: str
    is_attachment: bool
    chunks: Iterator[bytes]


def _visible_message(session: Session, actor: Actor, message_id: int) -> ArchiveMessage:
    scope = archive.staff_scope(session, actor)  # finance and the like: 403 here
    message = session.scalar(
        select(ArchiveMessage).where(
            ArchiveMessage.tenant_id == actor.tenant_id, ArchiveMessage.id == message_id
        )
    )
    if message is None or message.conversation_id is None:
        raise NotFound(f"message {message_id} not found", code="not_found")
    # Out of the actor's scope it is 404, like a conversation they may not open.
    try:
        ConversationRepository(session, actor.tenant_id).get_visible(message.conversation_id, scope)
    except NotFound:
        raise NotFound(f"message {message_id} not found", code="not_found")
    return message


def _filename(message_id: int, item: int, msgtype: str, payload: dict[str, Any], mime: str) -> str:
    """The file's own name when the message gives one, else `<type>-<message>[-<item>].<ext>`."""
    name = payload.get("filename")
    if isinstance(name, str) and name.strip():
        return name.strip().replace("/", "_").replace("\\", "_")[:200]
    suffix = f"-{item}" if item != WHOLE else ""
    return f"{msgtype}-{message_id}{suffix}.{EXTENSIONS.get(mime, 'bin')}"


def _payload_of(content: dict[str, Any], item: int) -> dict[str, Any]:
    """What the message says about its file number `item` ({} if nothing)."""
    return next((ref.payload for ref in media_refs(content) if ref.item == item), {})


def open_media(
    session: Session,
    actor: Actor,
    settings: Settings,
    message_id: int,
    *,
    item: int = WHOLE,
    store: BlobStore | None = None,
) -> OpenedMedia:
    """A message's media file (`item` 0: its own; N + 1: item N of a mixed / chatrecord message),
    decrypted as it is read, for an actor who may open its conversation (404 otherwise, and while
    it is not fetched). Audited like opening the conversation."""
    message = _visible_message(session, actor, message_id)
    fetch = session.scalar(
        select(ArchiveMediaFetch).where(
            ArchiveMediaFetch.tenant_id == actor.tenant_id,
            ArchiveMediaFetch.message_id == message.id,
            ArchiveMediaFetch.item == item,
        )
    )
    if fetch is None:
        raise NotFound("this message has no media", code="media_not_found")
    media = session.get(ArchiveMedia, fetch.media_id) if fetch.media_id else None
    if fetch.status != FetchStatus.STORED or media is None:
        detail = f"media not fetched yet ({fetch.status}{': ' + fetch.reason if fetch.reason else ''})"
        raise NotFound(detail, code="media_not_stored")
    store = store or store_of(session)
    try:
        plain = unseal(blob_cipher(settings), media.digest, store.open(media.digest))
        first = next(plain, b"")  # a wrong key or a damaged file fails here, before any byte is sent
    except BlobMissing:
        log.error("archive media blob %s of message %s is missing from the store", media.digest, message.id)
        raise NotFound("the media file is missing from the store", code="media_missing")
    audit.record(
        session,
        "archive.media_opened",
        actor=actor,
        target_type="archive_message",
        target_id=str(message.id),
        detail={
            "conversation_id": message.conversation_id,
            "msgtype": message.msgtype,
            "item": item,
            "size": media.size,
        },
    )
    # Only a file has a name worth decrypting the message for.
    payload = _payload_of(archive.decrypt_content(message, settings), item) if fetch.msgtype == "file" else {}
    return OpenedMedia(
        message_id=message.id,
        mime=media.mime,
        size=media.size,
        filename=_filename(message.id, item, fetch.msgtype, payload, media.mime),
        is_attachment=fetch.msgtype == "file" or not media.mime.startswith(("image/", "audio/", "video/")),
        chunks=itertools.chain([first], plain),
    )


@dataclass(frozen=True)
class MediaState:
    """What the conversation page shows for a media file."""

    kind: str  # image / audio / video / file
    status: str  # pending / stored / failed
    reason: str
    filename: str
    size: int
    url: str


def media_url(message_id: int, item: int = WHOLE) -> str:
    base = f"/api/v1/archive/messages/{message_id}/media"
    return base if item == WHOLE else f"{base}?item={item}"


def media_states(
    session: Session, tenant_id: str, messages: Sequence[tuple[ArchiveMessage, dict[str, Any]]]
) -> dict[tuple[int, int], MediaState]:
    """By (message id, item), the state of every media file of these (already scoped) rows: a
    media message's own file (item 0), the media items of mixed / chatrecord messages (N + 1)."""
    ids = [row.id for row, _ in messages if row.msgtype in KINDS or row.msgtype in ITEM_TYPES]
    if not ids:
        return {}
    found: dict[int, list[tuple[ArchiveMediaFetch, ArchiveMedia | None]]] = {}
    for start in range(0, len(ids), 500):
        for fetch, stored in session.execute(
            select(ArchiveMediaFetch, ArchiveMedia)
            .outerjoin(ArchiveMedia, ArchiveMedia.id == ArchiveMediaFetch.media_id)
            .where(
                ArchiveMediaFetch.tenant_id == tenant_id,
                ArchiveMediaFetch.message_id.in_(ids[start : start + 500]),
            )
        ).tuples():
            found.setdefault(fetch.message_id, []).append((fetch, stored))
    states = {}
    for row, content in messages:
        if row.id not in found:
            continue
        payloads = {ref.item: ref.payload for ref in media_refs(content)}
        for fetch, media in found[row.id]:
            mime = media.mime if media is not None else ""
            states[(row.id, fetch.item)] = MediaState(
                kind=KINDS.get(fetch.msgtype, "file"),
                status=fetch.status,
                reason=fetch.reason or "",
                filename=_filename(row.id, fetch.item, fetch.msgtype, payloads.get(fetch.item, {}), mime),
                size=media.size if media is not None else fetch.expected_size,
                url=media_url(row.id, fetch.item),
            )
    return states


@dataclass(frozen=True)
class ShownItem:
    """One item of a mixed / chatrecord message as the conversation page shows it: its text, or
    its media file's state (None when the item's file was never queued, e.g. no sdkfileid)."""

    item: int
    msgtype: str  # the item's type in plain names: text / image / file / link…
    text: str
    media: MediaState | None


@dataclass(frozen=True)
class ShownItems:
    title: str  # a chatrecord's title; "" for mixed
    items: list[ShownItem]


def _item_text(payload: dict[str, Any]) -> str:
    fields = ("content", "title", "description", "filename", "address")
    return " ".join(value for key in fields if isinstance(value := payload.get(key), str) and value)


def shown_items(
    messages: Sequence[tuple[ArchiveMessage, dict[str, Any]]], states: dict[tuple[int, int], MediaState]
) -> dict[int, ShownItems]:
    """By message id, the items of the mixed / chatrecord messages among these rows, in order:
    text items as text, media items with their state from `media_states`."""
    shown = {}
    for row, content in messages:
        if row.msgtype not in ITEM_TYPES:
            continue
        payload = content.get(row.msgtype)
        title = payload.get("title") if isinstance(payload, dict) else None
        items = [
            ShownItem(item, kind, _item_text(item_content), states.get((row.id, item)))
            for item, kind, item_content in message_items(content)
        ]
        if items:
            shown[row.id] = ShownItems(title if isinstance(title, str) else "", items)
    return shown


def rewrap_blobs(session: Session, settings: Settings, store: BlobStore) -> int:
    """After a field-key rotation: wrap every blob's data key with the current key (files are
    rewritten atomically; the content and its address do not change). Blobs rewritten."""
    cipher = blob_cipher(settings)
    current = f"v{cipher.current_version}."
    count = 0
    for digest in session.scalars(select(ArchiveMedia.digest).order_by(ArchiveMedia.digest)):
        try:
            sealed = b"".join(store.open(digest))
        except BlobMissing:
            log.error("archive media blob %s is missing from the store", digest)
            continue
        if sealed[6 : 6 + len(current)] == current.encode("ascii"):
            continue  # already under the current key
        store.put(digest, rewrap(cipher, sealed))
        count += 1
    return count


def due_count(session: Session, tenant_id: str, now: datetime | None = None) -> int:
    """Fetches waiting (for tests and the status page)."""
    return int(
        session.scalar(
            select(func.count()).where(
                ArchiveMediaFetch.tenant_id == tenant_id,
                ArchiveMediaFetch.status == FetchStatus.PENDING,
                ArchiveMediaFetch.next_attempt_at <= (now or clock.now()),
            )
        )
        or 0
    )
