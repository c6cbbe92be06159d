"""Tables of archived chat media.

* ArchiveMedia: one stored blob per (tenant, digest); the digest is a keyed hash of the
  plaintext, so the same bytes sent twice are stored once. `refs` counts the messages linked to
  it (kept equal to the number of ArchiveMediaFetch rows pointing at it).
* ArchiveMediaFetch: one per media file of a message, written in the transaction that stores the
  message (status pending), then fetched by a job: stored (linked to its ArchiveMedia) or failed
  with the reason. It is also the link message → media. `item` says which file of the message:
  0 is the message's own file (an image, voice, video, file or emotion message); N + 1 is item N
  (counted from 0, in the order of the payload's `item` list) of a mixed or chatrecord message.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from haina.archive.models import MESSAGE_ID
from haina.core import clock
from haina.core.database import Base, TenantMixin, new_id


class FetchStatus:
    PENDING = "pending"  # waiting for its first or next attempt
    STORED = "stored"
    FAILED = "failed"  # final: the reason says why; a person may retry it


class ArchiveMedia(TenantMixin, Base):
    __tablename__ = "archive_media"
    __table_args__ = (UniqueConstraint("tenant_id", "digest"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    # HMAC-SHA256 (hash key) of tenant and plaintext, hex: the blob's address in the store.
    digest: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    mime: Mapped[str] = mapped_column(String(100))
    refs: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class ArchiveMediaFetch(TenantMixin, Base):
    __tablename__ = "archive_media_fetches"
    __table_args__ = (
        UniqueConstraint("tenant_id", "message_id", "item"),
        Index("ix_archive_media_fetches_status_next_attempt_at", "tenant_id", "status", "next_attempt_at"),
        Index("ix_archive_media_fetches_media_id", "media_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    message_id: Mapped[int] = mapped_column(MESSAGE_ID, ForeignKey("archive_messages.id", ondelete="CASCADE"))
    # 0: the message's own file; N + 1: item N of a mixed / chatrecord message.
    item: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    # The file's type (image / voice / video / file / emotion): the message's, or the item's.
    msgtype: Mapped[str] = mapped_column(String(32))
    sdkfileid: Mapped[str] = mapped_column(Text)
    # What the message says about the file: checked against the bytes fetched.
    expected_size: Mapped[int] = mapped_column(BigInteger, default=0)
    md5sum: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(16), default=FetchStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    reason: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None]
    media_id: Mapped[str | None] = mapped_column(String(32), ForeignKey("archive_media.id"))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)
